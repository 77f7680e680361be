"""Result models of the batch prediction tools (deploy_batch_predict, deploy_batch_status, deploy_batch_cancel)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

BatchState = Literal["running", "succeeded", "failed", "cancelled", "interrupted"]


class BatchStarted(BaseModel):
    job_id: str = Field(
        description="Follow it with deploy_batch_status (or read mlops://batch-predictions/<id>)."
    )
    state: BatchState
    model: str
    version: str = Field(description="The model version that scores the rows (an endpoint's stable version).")
    endpoint: str | None = None
    input: str = Field(description="What is scored: '<dataset> v<N>' of the lake, or a workspace file.")
    rows_total: int | None = Field(description="Rows to score, when known up front (lake versions, Parquet).")
    output_dataset: str = Field(description="The new lake dataset the predictions are written to.")
    engine: Literal["arrow", "spark"] = Field(
        description="arrow: record batches in this server's process; spark: onnxruntime in each Spark partition."
    )
    columns: list[str] = Field(
        description="The output's columns: the key columns, prediction, probabilities."
    )
    uri: str = Field(description="mlops://batch-predictions/<id>: the job as a resource (subscribable).")


class BatchStatus(BaseModel):
    job_id: str
    state: BatchState = Field(
        description="running; succeeded; failed (see error); cancelled; interrupted (the server that ran it stopped)."
    )
    model: str
    version: str
    endpoint: str | None = None
    input: str
    input_id: str | None = Field(description="Lineage id of the input (dataset:<name>@<sha>).")
    engine: Literal["arrow", "spark"]
    rows_total: int | None
    rows_done: int = Field(description="Rows scored so far (on Spark: estimated from finished tasks).")
    rows_per_s: float | None = Field(description="Rows scored per second since the job started.")
    output_dataset: str
    output_version: int | None = Field(description="The output's lake version once written.")
    output_id: str | None = Field(
        description="Lineage id of the output version; edges from the model version and the input lead to it."
    )
    error: str | None = None
    created_at: str
    updated_at: str = Field(description="The job's last heartbeat or change.")
    finished_at: str | None = None
    elapsed_s: float = Field(description="Seconds from the start to the end (or to now while running).")
