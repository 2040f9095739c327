"""Metrics and logs: where the workers expose /metrics, and how every process writes its log."""

from typing import Literal

from pydantic import BaseModel, Field


class ObservabilitySettings(BaseModel):
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`text`: one readable line per record (for a terminal); `json`: one JSON "
        "object per line with the record's fields (job_id, model, version, batch_id, rows, "
        "worker_id, request_id, webhook_id, bulk_id, duration_ms), for a log collector.",
    )

    metrics_host: str = Field(
        "127.0.0.1",
        description="Address the batch worker's and rq worker's /metrics servers bind "
        "(0.0.0.0 in a container, for Prometheus to reach them).",
    )

    worker_metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of the batch worker's /metrics (Prometheus text or OpenMetrics); 0: "
        "none. `maas worker --metrics-port` sets it too.",
    )

    rq_worker_metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of the rq worker's /metrics; 0: none. `maas rq-worker --metrics-port` sets it too.",
    )
