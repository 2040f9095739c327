"""Every Prometheus metric a maas process counts itself, in one place (the API and the workers
share the names; each exports what it increments). The queue gauges are not here: the API reads
them from Redis at scrape time (api/metrics.py).

Labels are bounded: model and version (from the repository), lane, status, error code (the
stable codes of maas.core.errors and the worker's own), route template, outcome. Never a job id,
a URL or anything a tenant wrote.

With the PROMETHEUS_MULTIPROC_DIR environment variable set before the process starts,
prometheus-client keeps these in files shared by the processes of a multi-process API.
"""

import functools
import logging

from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)
# Seconds: 0.5 ms and 1 ms at the low end resolve a fast model's inference and an idle queue.
SECONDS_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
MODEL = ("model", "version")

JOBS_SUBMITTED = Counter("maas_jobs_submitted", "Jobs accepted into a lane.", MODEL)
JOBS_FINISHED = Counter(
    "maas_jobs_finished",
    "Jobs that reached a terminal state, by status and error code (empty unless failed/expired).",
    (*MODEL, "status", "error_code"),
)
QUEUE_SECONDS = Histogram(
    "maas_job_queue_seconds",
    "Time from submit to a worker claiming the job.",
    MODEL,
    buckets=SECONDS_BUCKETS,
)
INFERENCE_SECONDS = Histogram(
    "maas_job_inference_seconds",
    "Inference time of the batch a job ran in, per job.",
    MODEL,
    buckets=SECONDS_BUCKETS,
)
END_TO_END_SECONDS = Histogram(
    "maas_job_end_to_end_seconds",
    "Time from submit to the job's result, for jobs a worker computed.",
    MODEL,
    buckets=SECONDS_BUCKETS,
)
BATCH_ROWS = Histogram("maas_batch_rows", "Rows in each online batch run.", MODEL, buckets=ROWS_BUCKETS)
BATCHES = Counter("maas_batches", "Online batches run.", MODEL)
ROWS_RECOMPUTED = Counter(
    "maas_rows_recomputed",
    "Rows computed again after a reclaim (their first worker died or stalled).",
    MODEL,
)
WEBHOOK_DELIVERIES = Counter(
    "maas_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, retrying (failed, will retry), failed (gave up).",
    ("outcome",),
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "maas_webhook_delivery_seconds",
    "Time of one webhook POST attempt, whatever its outcome.",
    buckets=SECONDS_BUCKETS,
)
BULK_ROWS = Counter(
    "maas_bulk_rows",
    "Bulk rows scored, by status (succeeded, failed).",
    (*MODEL, "status"),
)
BULK_CHUNK_SECONDS = Histogram(
    "maas_bulk_chunk_seconds",
    "Time to score one bulk chunk.",
    MODEL,
    buckets=SECONDS_BUCKETS,
)
MODEL_LOADS = Counter("maas_model_loads", "Model version loads by outcome (ok, failed).", (*MODEL, "outcome"))
MODEL_UNLOADS = Counter("maas_model_unloads", "Model versions unloaded.", MODEL)
MODEL_LOAD_SECONDS = Histogram(
    "maas_model_load_seconds",
    "Time to load a model version (runtime session built), successful loads.",
    MODEL,
    buckets=SECONDS_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "maas_http_requests",
    "HTTP requests by method, route template and status.",
    ("method", "route", "status"),
)
HTTP_REQUEST_SECONDS = Histogram(
    "maas_http_request_seconds",
    "HTTP request time by method and route template.",
    ("method", "route"),
    buckets=SECONDS_BUCKETS,
)


@functools.cache
def _submitted(model: str, version: int) -> Counter:
    return JOBS_SUBMITTED.labels(model, str(version))


def count_submitted(model: str, version: int) -> None:
    """Per job on the API's hot path: the label child is looked up once per version."""
    _submitted(model, version).inc()


def count_finished(model: str, version: int, status: str, error_code: str = "") -> None:
    JOBS_FINISHED.labels(model, str(version), status, error_code).inc()


def serve_metrics(host: str, port: int) -> None:
    """This process's metrics on http://host:port/metrics (any path; Prometheus text, or
    OpenMetrics when asked), from a daemon thread; nothing when port is 0."""
    if port:
        start_http_server(port, addr=host)
        log.info("metrics on http://%s:%d/metrics", host, port)
