"""Pydantic results of the onnx tools."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SpecInput(BaseModel):
    name: str = Field(description="The ONNX graph input.")
    columns: list[str] = Field(description="Row keys fed into it, in order.")
    dtype: Literal["float64", "float32", "int64", "string"]


class Parity(BaseModel):
    rows: int = Field(description="Training rows compared.")
    max_abs_diff: float | None = Field(
        description="Largest |onnx - native| over probabilities (classifiers) or values (regressors)."
    )
    label_agreement: float | None = Field(description="Share of rows with the same label (classifiers).")
    passed: bool
    tolerance: str


class ConvertResult(BaseModel):
    name: str
    version: str
    task: Literal["classification", "regression"]
    opset: int
    onnx_model_id: str = Field(
        description="The MLflow LoggedModel of the ONNX twin (tag onnx_of=<name>/<version>)."
    )
    onnx_uri: str
    inputs: list[SpecInput]
    columns: int
    size_bytes: int
    parity: Parity
    notes: list[str] = Field(default_factory=list)
    lineage: list[str] = Field(default_factory=list)


class TensorInfo(BaseModel):
    name: str
    type: str
    shape: list[int | str | None] | None


class TwinInfo(BaseModel):
    name: str
    version: str
    task: str
    columns: list[str]
    inputs: list[SpecInput]


class InspectResult(BaseModel):
    path: str
    ir_version: int
    opset: dict[str, int] = Field(description="Opset per domain (ai.onnx is the default domain).")
    producer: str | None
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    operators: dict[str, int] = Field(description="Node count per operator (subgraphs included).")
    nodes: int
    size_bytes: int = Field(description="Model file plus its external data.")
    external_data_files: list[str]
    safe: bool = Field(description="False when external data points outside the model's folder.")
    safety: str
    twin: TwinInfo | None = None


class BenchmarkRow(BaseModel):
    batch_size: int
    repeats: int
    onnx_p50_ms: float
    onnx_p95_ms: float
    native_p50_ms: float
    native_p95_ms: float
    onnx_rows_per_s: float | None
    native_rows_per_s: float | None
    speedup: float | None = Field(description="native p50 / onnx p50.")


class BenchmarkResult(BaseModel):
    name: str
    version: str
    estimator: str
    runtime: str
    note: str
    results: list[BenchmarkRow]
