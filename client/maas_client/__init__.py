"""maas_client: the Python client of a maas service.

    from maas_client import Client
    with Client("http://127.0.0.1:8000") as client:
        job = client.jobs.submit("digits", rows, wait=5)
        print(job.result()["probabilities"].argmax(axis=1))

`AsyncClient` has the same calls, awaited. Errors are `MaasError` subclasses (errors.py)."""

from maas_client.async_client import AsyncClient
from maas_client.bulk_job import BulkJob, BulkProgress
from maas_client.client import Client
from maas_client.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidSignature,
    JobFailed,
    MaasError,
    NotFound,
    PayloadTooLarge,
    QueueFull,
    QuotaExceeded,
    RateLimited,
    RetryableError,
    Timeout,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from maas_client.job import AsyncJob, Job, JobPage, JobState
from maas_client.retry import RetryPolicy

__all__ = [
    "AsyncClient",
    "AsyncJob",
    "BulkJob",
    "BulkProgress",
    "Client",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "InvalidSignature",
    "Job",
    "JobFailed",
    "JobPage",
    "JobState",
    "MaasError",
    "NotFound",
    "PayloadTooLarge",
    "QueueFull",
    "QuotaExceeded",
    "RateLimited",
    "RetryPolicy",
    "RetryableError",
    "Timeout",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
]
__version__ = "0.1.0"
