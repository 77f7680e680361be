"""The repository's own packaging: the Docker build context the docker SDK would send (its .dockerignore
applied by the SDK's own code), file by file, and the Kubernetes manifest with the fields Kubernetes requires."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO


def context_files() -> set[str]:
    from docker.utils.build import exclude_paths

    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return set(exclude_paths(str(REPO), patterns, dockerfile="Dockerfile"))


def test_docker_build_context_holds_only_what_the_image_installs() -> None:
    files = context_files()
    assert {
        "pyproject.toml",
        "README.md",
        "constraints.txt",
        "Dockerfile",
        "mcp_server/cli.py",
        "mcp_server/gateway/app.py",
        "mcp_server/core/store/migrations/versions/0009_deploy.py",
    } <= files
    assert not [
        f for f in files if f.startswith((".venv/", ".git/", "tests/", "benchmarks/", ".mypy_cache/"))
    ]
    assert not [f for f in files if "__pycache__" in f or f.endswith((".pyc", ".db"))]
    dockerfile = (REPO / "Dockerfile").read_text()
    copied = [line.split()[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    for sources in copied:  # every COPY source is in the context
        for source in sources:
            assert any(f == source or f.startswith(source) for f in files), source
    assert "\nUSER 10001\n" in dockerfile and "FROM python:3.11-slim" in dockerfile


@pytest.mark.parametrize(
    ("manifest", "command", "env"),
    [
        ("gateway.yaml", "gateway", {"MLOPS_MCP_GATEWAY_TOKEN", "MLOPS_MCP_STORE_URL", "MLOPS_MCP_HOME"}),
        (
            "mcp-server.yaml",
            "serve",
            {"MLOPS_MCP_AUTH_ISSUER", "MLOPS_MCP_AUTH_AUDIENCE", "MLOPS_MCP_STORE_URL", "MLOPS_MCP_HOME"},
        ),
    ],
)
def test_k8s_manifests_have_the_required_fields(manifest: str, command: str, env: set[str]) -> None:
    docs = list(yaml.safe_load_all((REPO / "deploy" / "k8s" / manifest).read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    deployment, service = docs
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    (container,) = spec["template"]["spec"]["containers"]
    assert container["name"] and container["image"]
    assert container["command"][:2] == ["mlops-mcp", command]
    assert env <= {e["name"] for e in container["env"]}
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
