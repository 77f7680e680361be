"""The serving gateway: a Starlette app on uvicorn serving registered models' ONNX twins with onnxruntime.

- table.py: the routing table in the metadata store (endpoints, routes with weights and blue/green slots,
  a generation counter every change bumps) and an immutable snapshot of it;
- runtime_shim.py: the ONNX runtime helpers (contract 1, mcp_server.tools.onnx.runtime);
- metrics.py: per endpoint and version request/error/latency counters (Prometheus text and windows);
- app.py: the HTTP app, the session pool and the routing poller; controllers plug into its lifespan;
- manager.py: the managed subprocess (pid file, health wait, stop, restart when found dead).

Nothing here imports MLflow or pandas: the deploy tools resolve models to local ONNX folders at create time.
"""
