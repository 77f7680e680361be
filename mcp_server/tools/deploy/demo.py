"""Demo step: serve the registered model on the gateway and predict through it over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _text(result: Any) -> str:
    return (getattr(result.content[0], "text", "") if result.content else "")[:120]


async def demo_step(client: Any, workspace: Path) -> list[tuple[str, bool, str]]:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    workspace.mkdir(parents=True, exist_ok=True)
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(workspace / "breast_cancer_serve.csv", index=False)
    steps: list[tuple[str, bool, str]] = []
    train = await client.call_tool(
        "evaluation_train_model",
        {
            "dataset": "breast_cancer_serve.csv",
            "target": "target",
            "estimator": "LogisticRegression",
            "params": {"solver": "liblinear"},
            "name": "demo-serve",
        },
    )
    if train.is_error:
        return [("deploy: train a model", False, _text(train))]
    reg = await client.call_tool("registry_register_model", {"name": "demo-cancer", "source": "demo-serve"})
    if reg.is_error:
        return [("deploy: register the model", False, _text(reg))]
    version = reg.structured_content["version"]
    gw = await client.call_tool("deploy_gateway_start", {"port": 0})
    steps.append(
        (
            "deploy_gateway_start",
            not gw.is_error,
            _text(gw) if gw.is_error else f"gateway at {gw.structured_content['url']}",
        )
    )
    if gw.is_error:
        return steps
    try:
        ep = await client.call_tool(
            "deploy_create_endpoint", {"endpoint": "cancer", "model": "demo-cancer", "version": version}
        )
        steps.append(
            (
                "deploy_create_endpoint",
                not ep.is_error,
                _text(ep)
                if ep.is_error
                else f"cancer -> demo-cancer v{version} ({ep.structured_content['onnx']})",
            )
        )
        rows_df = pd.read_csv(workspace / "breast_cancer_serve.csv").drop(columns="target").head(5)
        rows = [{k: float(v) for k, v in r.items()} for r in rows_df.to_dict(orient="records")]
        out = await client.call_tool("deploy_predict", {"endpoint": "cancer", "rows": rows})
        if out.is_error:
            steps.append(("deploy_predict", False, _text(out)))
        else:
            sc = out.structured_content
            preds = [p["prediction"] for p in sc["predictions"]]
            truth = frame["target"].head(5).tolist()
            steps.append(
                (
                    "deploy_predict (over HTTP, ONNX)",
                    True,
                    f"{preds} (true {truth}) served by v{next(iter(sc['versions']))}, "
                    f"gateway latency {sc['predictions'][0]['latency_ms']:.2f} ms",
                )
            )
    finally:
        stop = await client.call_tool("deploy_gateway_stop", {})
        steps.append(
            ("deploy_gateway_stop", not stop.is_error, _text(stop) if stop.is_error else "stopped cleanly")
        )
    # The rollouts step (issue #10) is self-contained; the demo loads only this module, so chain it here.
    try:
        from mcp_server.tools.deploy import rollout_demo
    except ImportError:
        return steps
    return steps + list(await rollout_demo.demo_step(client, workspace))
