"""Result models of the deploy tools."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mcp_server.core.gateway_client import VersionMetrics
from mcp_server.core.output import Page
from mcp_server.gateway.manager import GatewayStatus

__all__ = [
    "BuildResult",
    "DeleteResult",
    "EndpointInfo",
    "EndpointPage",
    "EndpointResult",
    "EndpointStatus",
    "GatewayStatus",
    "ManifestsResult",
    "PredictResult",
    "ReplicaTraffic",
    "RowPrediction",
    "VersionInfo",
    "VersionMetrics",
]


class VersionInfo(BaseModel):
    version: str
    weight: float = Field(description="Percent of the endpoint's traffic this version gets.")
    slot: str | None = Field(default=None, description="Blue/green slot holding this version, if any.")
    onnx: str = Field(description="Lineage id of the ONNX twin served, onnx:<model>/<version>.")
    loaded: bool | None = Field(
        None, description="Loaded in the running gateway (null: gateway not running)."
    )
    load_error: str | None = None
    metrics: VersionMetrics | None = None


class EndpointInfo(BaseModel):
    endpoint: str
    model: str
    stable_version: str
    live_slot: str | None
    versions: list[VersionInfo]
    created_at: str
    updated_at: str


class EndpointResult(BaseModel):
    endpoint: str
    model: str
    version: str = Field(description="The pinned version (an alias is resolved once, at create time).")
    resolved_from: str | None = Field(
        default=None, description="The alias the version was resolved from, if any."
    )
    onnx: str
    created: bool = Field(description="False when the same endpoint with the same version already existed.")
    gateway: str = Field(description="Whether the running gateway serves it, or how to start one.")
    predict_url: str | None = None


class EndpointPage(Page[EndpointInfo]):
    pass


class ReplicaTraffic(BaseModel):
    """One live gateway process on this store and the traffic it served on the endpoint."""

    replica: str = Field(description="The replica's id (new at every start of a gateway process).")
    host: str
    pid: int
    url: str | None = None
    leader: bool = Field(description="True for the one replica stepping rollouts now (the lease holder).")
    generation: int = Field(description="Routing generation this replica serves.")
    started_at: str
    heartbeat_at: str
    traffic: dict[str, VersionMetrics] = Field(
        default_factory=dict, description="Per version, counted since this replica started."
    )


class EndpointStatus(BaseModel):
    endpoint: EndpointInfo
    gateway_running: bool
    generation: int | None = Field(default=None, description="Routing generation the gateway serves.")
    replicas: list[ReplicaTraffic] = Field(
        default_factory=list,
        description="Every live gateway process on this store (heartbeat within a few seconds), oldest first.",
    )
    traffic: dict[str, VersionMetrics] = Field(
        default_factory=dict, description="Per version, the live replicas' traffic added up."
    )
    recent_events: list[dict[str, Any]] = Field(default_factory=list, description="Newest first (up to 10).")
    message: str = ""


class RowPrediction(BaseModel):
    row: int
    prediction: Any
    version: str
    latency_ms: float = Field(description="Gateway-side predict latency of the request that carried the row.")


class PredictResult(BaseModel):
    endpoint: str
    rows: int
    predictions: list[RowPrediction]
    versions: dict[str, int] = Field(description="Rows served per version.")
    round_trip_ms: float = Field(description="Wall time of the HTTP calls, as the client saw it.")


class DeleteResult(BaseModel):
    endpoint: str
    deleted: bool
    versions: list[str]
    message: str


class BuildResult(BaseModel):
    model: str
    version: str
    tag: str
    context: str = Field(description="The Docker build context (under <home>/reports/images/).")
    files: list[str] = Field(description="Files of the build context.")
    built: bool
    image_id: str | None = None
    message: str


class ManifestsResult(BaseModel):
    endpoint: str
    strategy: str
    kinds: list[str] = Field(description="The Kubernetes objects in the file, in order.")
    uri: str = Field(description="mlops:// link of the YAML file (resources/read).")
    path: str = Field(description="The file under the home.")
    image: str
    message: str
