"""The serving gateway: a Starlette app on uvicorn serving registered models' ONNX twins with onnxruntime.

- table.py: the routing table in the metadata store (endpoints, routes with weights and blue/green slots,
  a generation counter every change bumps) and an immutable snapshot of it;
- metrics.py: per endpoint and version request/error/latency counters (Prometheus text and windows);
- app.py: the HTTP app, the session pool and the routing poller; controllers plug into its lifespan;
- controller.py: the canary controller (steps judged on their own window, rollback) inside the gateway;
- manager.py: the managed subprocess (pid file, health wait, stop, restart when found dead).

The server talks to it through the one client, core/gateway_client.py. It imports neither the MCP SDK nor
core.app (an import-linter contract): auth and loopback checks come from core/net.py.

Nothing here imports MLflow or pandas: the deploy tools resolve models to local ONNX folders at create time.
"""
