"""OAuth 2.1 resource server, roles as scopes, audit per person (issue #24).

A local issuer (tests/oauth_issuer.py): an RSA key made here, its authorization-server metadata and JWKS
served on 127.0.0.1 (the server discovers the JWKS from the metadata), tokens minted with PyJWT. The MCP
server runs as `mlops-mcp serve --transport http` in a subprocess; the MCP SDK's client talks to it with a
bearer header, raw httpx checks the 401/403 answers. tests/test_team.py runs the whole team set-up.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mcp_server.core import auth
from mcp_server.core.config import Settings
from mcp_server.core.registry import all_specs, select
from mcp_server.core.store.redact import mask_text
from tests.conftest import PYTHON, REPO, server_env
from tests.oauth_issuer import (
    HEADERS,
    INIT,
    Issuer,
    Served,
    bearer,
    mcp_client,
    oauth_servers,
    raw_tool_call,
)

pytestmark = pytest.mark.xdist_group("oauth")

READER = "reader@example.com"
DEPLOYER = "deployer@example.com"

# Every tool's OAuth scope, decided by ToolSpec.required_scope (core/registry.py): read-only -> read; a write
# of the deploy area -> deploy; destructive or confirmed -> admin; other writes -> write. Marked (*) where a
# ToolSpec overrides the rule with `scope=`. Scopes are hierarchical: admin > deploy > write > read.
SCOPE_TABLE = {
    # health, server
    "health_check": "mlops:read",
    "health_history": "mlops:read",
    "server_info": "mlops:read",
    "server_enable_tools": "mlops:read",
    # validation
    "validation_create_suite": "mlops:write",
    "validation_suggest_suite": "mlops:write",
    "validation_list_suites": "mlops:read",
    "validation_get_suite": "mlops:read",
    "validation_delete_suite": "mlops:admin",
    "validation_run": "mlops:read",
    "validation_get_result": "mlops:read",
    "validation_list_results": "mlops:read",
    "validation_check_integrity": "mlops:read",
    # quality (clean and filter may overwrite a file: destructive)
    "quality_profile": "mlops:read",
    "quality_score": "mlops:read",
    "quality_history": "mlops:read",
    "quality_compare": "mlops:read",
    "quality_report": "mlops:read",
    "quality_detect_outliers": "mlops:read",
    "quality_clean": "mlops:admin",
    "quality_filter_dataset": "mlops:admin",
    "quality_check_homogeneity": "mlops:read",
    # features (apply deletes the project's objects not in the file: destructive)
    "features_init": "mlops:write",
    "features_scaffold": "mlops:write",
    "features_plan": "mlops:read",
    "features_apply": "mlops:admin",
    "features_list": "mlops:read",
    "features_describe": "mlops:read",
    "features_materialize": "mlops:write",
    "features_get_online": "mlops:read",
    "features_get_historical": "mlops:write",
    "features_validate": "mlops:read",
    # evaluation
    "evaluation_train_model": "mlops:write",
    "evaluation_list_runs": "mlops:read",
    "evaluation_cross_validate": "mlops:read",
    "evaluation_compare_models": "mlops:read",
    "evaluation_residuals": "mlops:read",
    "evaluation_diagnostics": "mlops:read",
    "evaluation_test_model": "mlops:read",
    # registry
    "registry_register_model": "mlops:write",
    "registry_list_models": "mlops:read",
    "registry_search_versions": "mlops:read",
    "registry_get_version": "mlops:read",
    "registry_set_alias": "mlops:deploy",  # (*) serving follows aliases
    "registry_rollback": "mlops:deploy",  # (*) an alias move, not a delete
    "registry_alias_history": "mlops:read",
    "registry_compare_versions": "mlops:read",
    "registry_archive_version": "mlops:write",
    "registry_delete_version": "mlops:admin",
    "registry_model_card": "mlops:read",
    # onnx
    "onnx_convert": "mlops:write",
    "onnx_inspect": "mlops:read",
    "onnx_benchmark": "mlops:read",
    # deploy
    "deploy_gateway_start": "mlops:deploy",
    "deploy_gateway_stop": "mlops:deploy",
    "deploy_gateway_status": "mlops:read",
    "deploy_create_endpoint": "mlops:deploy",
    "deploy_list": "mlops:read",
    "deploy_status": "mlops:read",
    "deploy_predict": "mlops:read",
    "deploy_delete_endpoint": "mlops:admin",  # (*) a delete, not a traffic move
    "deploy_build_image": "mlops:deploy",
    "deploy_export_manifests": "mlops:read",
    "deploy_canary_start": "mlops:deploy",
    "deploy_canary_status": "mlops:read",
    "deploy_canary_promote": "mlops:deploy",
    "deploy_canary_abort": "mlops:deploy",
    "deploy_blue_green_prepare": "mlops:deploy",
    "deploy_blue_green_switch": "mlops:deploy",
    "deploy_rollback": "mlops:deploy",
    "deploy_history": "mlops:read",
    "deploy_batch_predict": "mlops:write",  # (*) writes a new dataset, moves no traffic
    "deploy_batch_status": "mlops:read",
    "deploy_batch_cancel": "mlops:write",  # (*)
    "monitor_drift": "mlops:read",
    "monitor_record_outcomes": "mlops:write",
    "monitor_performance": "mlops:read",
    "monitor_watch_rules": "mlops:write",
    # ab
    "ab_design": "mlops:read",
    "ab_create": "mlops:write",
    "ab_record": "mlops:write",
    "ab_analyze": "mlops:read",
    "ab_list": "mlops:read",
    "ab_get": "mlops:read",
    "ab_stop": "mlops:write",
    # lake, catalog (convert may overwrite a file: destructive)
    "lake_write": "mlops:write",
    "lake_read": "mlops:read",
    "lake_list": "mlops:read",
    "lake_versions": "mlops:read",
    "lake_convert": "mlops:admin",
    "lake_compact": "mlops:write",
    "catalog_register": "mlops:write",
    "catalog_search": "mlops:read",
    "catalog_get": "mlops:read",
    "catalog_schema_diff": "mlops:read",
    # lineage, audit
    "lineage_get": "mlops:read",
    "lineage_export": "mlops:read",
    "audit_list": "mlops:read",
    # mongo
    "mongo_insert": "mlops:write",
    "mongo_find": "mlops:read",
    "mongo_aggregate": "mlops:read",
    "mongo_list_collections": "mlops:read",
    "mongo_create_index": "mlops:write",
    "mongo_export": "mlops:write",
    # backup
    "backup_create": "mlops:write",
    "backup_list": "mlops:read",
    "backup_verify": "mlops:read",
    "backup_prune": "mlops:admin",
    "backup_restore": "mlops:admin",
    # workflow
    "workflow_promote": "mlops:deploy",  # (*) ends by moving the champion alias (and traffic)
    "workflow_status": "mlops:read",
    "workflow_list": "mlops:read",
}


# -- no server --------------------------------------------------------------------------------------------


def test_every_tool_has_one_scope_in_this_table() -> None:
    assert {s.name: s.required_scope for s in all_specs()} == SCOPE_TABLE


def test_scopes_are_hierarchical() -> None:
    assert auth.effective_scopes(["mlops:read"]) == {"mlops:read"}
    assert auth.effective_scopes(["mlops:deploy"]) == {"mlops:read", "mlops:write", "mlops:deploy"}
    assert auth.effective_scopes(["mlops:admin", "openid"]) == {*auth.SCOPES, "openid"}
    assert not auth.allows(["mlops:write"], "mlops:deploy")
    assert auth.parse_scopes("mlops:read  mlops:write,openid") == ["mlops:read", "mlops:write", "openid"]


def test_a_jwt_is_masked_wherever_it_appears() -> None:
    token = jwt.encode({"sub": "alice", "scope": "mlops:admin"}, "k" * 32, algorithm="HS256")
    assert token not in mask_text(f"the caller pasted {token} into an argument")


# -- the local issuer and the server ----------------------------------------------------------------------


def _register_model(home: Path) -> None:
    """A registered model `churn` with versions 1 and 2 in the home's MLflow (aliases need versions)."""
    from mcp_server.core.context import AppContext
    from mcp_server.core.tracking import mlflow_client

    app = AppContext.from_settings(Settings(home=home))
    try:
        client = mlflow_client(app)
        client.create_registered_model("churn")
        source = home / "mlartifacts" / "churn"
        source.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            client.create_model_version("churn", source=str(source))
    finally:
        app.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    issuer = Issuer()
    home = tmp_path_factory.mktemp("oauth") / "home"
    _register_model(home)
    try:
        with oauth_servers(issuer, home, MLOPS_MCP_LOG_LEVEL="INFO") as (server,):
            yield server
    finally:
        issuer.close()


def refuse_as_reader(served: Served, token: str) -> httpx.Response:
    """A mlops:read session asking to move the alias, over raw HTTP."""
    return raw_tool_call(
        served, token, "registry_set_alias", {"name": "churn", "alias": "champion", "version": "1"}
    )


# -- over HTTP --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_protected_resource_metadata_names_the_issuer_and_the_scopes(served: Served) -> None:
    base = served.url.removesuffix("/mcp")
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        answer = httpx.get(base + path)
        assert answer.status_code == 200, path
        metadata = answer.json()
        assert metadata["resource"] == served.url
        assert metadata["authorization_servers"] == [served.issuer.url]
        assert metadata["scopes_supported"] == ["mlops:read", "mlops:write", "mlops:deploy", "mlops:admin"]
        assert metadata["bearer_methods_supported"] == ["header"]


@pytest.mark.slow
def test_a_valid_token_gets_200(served: Served) -> None:
    token = served.token("mlops:read", sub=READER)
    answer = httpx.post(served.url, json=INIT, headers={**HEADERS, **bearer(token)}, timeout=30)
    assert answer.status_code == 200, answer.text


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["missing", "expired", "wrong issuer", "wrong audience", "bad signature", "not a JWT"]
)
def test_a_token_that_is_not_for_this_server_gets_401(served: Served, case: str) -> None:
    now = int(time.time())
    tokens = {
        "missing": None,
        "expired": served.token("mlops:admin", sub=READER, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "wrong issuer": served.token("mlops:admin", sub=READER, iss="http://127.0.0.1:1/another-issuer"),
        # Issued for another resource: refused, never passed through.
        "wrong audience": served.token("mlops:admin", sub=READER, aud="https://other-service.example/mcp"),
        "bad signature": served.issuer.mint(
            key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            aud=served.url,
            sub=READER,
            scope="mlops:admin",
        ),
        "not a JWT": "not-a-jwt-at-all-0123456789",
    }
    token = tokens[case]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "registry_set_alias"}}
    for body in (INIT, call):  # a call beyond any scope is still 401 first, not 403
        answer = httpx.post(
            served.url, json=body, headers={**HEADERS, **(bearer(token) if token else {})}, timeout=30
        )
        assert answer.status_code == 401
        challenge = answer.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert f'resource_metadata="{served.metadata_url}"' in challenge
        assert token is None or token not in answer.text


@pytest.mark.slow
async def test_a_read_token_lists_only_read_only_tools_and_gets_403_moving_an_alias(
    served: Served, tmp_path: Path
) -> None:
    token = served.token("mlops:read", sub=READER, client_id="notebook")
    read_only = {s.name for s in select(Settings(home=tmp_path, profile="all"))[0] if s.read_only}
    async with mcp_client(served, token) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        assert listed == read_only
        info = await client.call_tool("server_info", {})
        assert not info.is_error
    refused = refuse_as_reader(served, token)
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"].startswith(
        f'Bearer error="insufficient_scope", scope="mlops:deploy", resource_metadata="{served.metadata_url}"'
    )
    assert refused.json()["error"] == "insufficient_scope"


@pytest.mark.slow
async def test_a_deploy_token_moves_the_alias_and_the_audit_names_each_person(served: Served) -> None:
    reader = served.token("mlops:read", sub=READER, client_id="notebook")
    deployer = served.token("mlops:deploy", sub=DEPLOYER, azp="release-bot")
    assert refuse_as_reader(served, reader).status_code == 403
    async with mcp_client(served, deployer) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        assert {"registry_set_alias", "lake_write", "audit_list"} <= listed  # deploy implies write and read
        assert "backup_restore" not in listed and "registry_delete_version" not in listed  # admin's
        moved = await client.call_tool(
            "registry_set_alias", {"name": "churn", "alias": "champion", "version": "2", "reason": "test"}
        )
        assert not moved.is_error, moved.content
        assert moved.structured_content is not None
        assert moved.structured_content["version"] == "2"
        assert moved.structured_content["event"]["subject"] == DEPLOYER
        history = await client.call_tool("registry_alias_history", {"name": "churn", "alias": "champion"})
        assert history.structured_content is not None
        assert history.structured_content["events"][0]["subject"] == DEPLOYER
    async with mcp_client(served, reader) as client:  # the audit log is read-only: a reader may list it
        audit = await client.call_tool("audit_list", {"tool": "registry_set_alias"})
        assert audit.structured_content is not None
        rows = {(e["subject"], e["client_id"], e["outcome"]) for e in audit.structured_content["entries"]}
        assert (DEPLOYER, "release-bot", "ok") in rows
        assert (READER, "notebook", "error") in rows  # the refused attempt
        mine = await client.call_tool("audit_list", {"subject": READER})
        assert mine.structured_content is not None
        assert {e["subject"] for e in mine.structured_content["entries"]} == {READER}
        assert "mlops:deploy" in mine.structured_content["entries"][0]["error"]
    shown = json.dumps(audit.structured_content) + served.log.read_text()
    assert reader not in shown and deployer not in shown  # tokens reach neither the audit log nor the log


# -- the command line -------------------------------------------------------------------------------------


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "mcp_server", *args],
        env=server_env(home, **env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


@pytest.mark.slow
def test_static_token_and_oauth_are_exclusive(tmp_path: Path) -> None:
    both = {"MLOPS_MCP_TOKEN": "s3cret-token-1", "MLOPS_MCP_AUTH_ISSUER": "https://login.example.com"}
    out = _cli(tmp_path / "home", "serve", "--transport", "http", **both)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "both set" in out.stderr and "Traceback" not in out.stderr
    assert "s3cret" not in out.stderr


@pytest.mark.slow
def test_doctor_says_which_auth_is_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "auth:  off" in _cli(home, "doctor").stdout
    assert "auth:  static bearer token" in _cli(home, "doctor", MLOPS_MCP_TOKEN="s3cret-token-1").stdout
    issuer = Issuer()
    try:
        out = _cli(home, "doctor", MLOPS_MCP_AUTH_ISSUER=issuer.url)
    finally:
        issuer.close()
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"auth:  OAuth 2.1 resource server: issuer {issuer.url}" in out.stdout
    assert f"JWKS discovered: {issuer.url}/jwks.json" in out.stdout
