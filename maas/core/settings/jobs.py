"""Jobs and what one request may cost the others: bodies, waits, retention, delivery."""

from pydantic import BaseModel, Field


class JobSettings(BaseModel):
    max_body_bytes: int = Field(16 * 1024 * 1024, description="Largest request body, bytes (413).")

    max_wait_s: float = Field(60.0, description="Longest long-poll / Prefer: wait, seconds.")

    infer_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long an inference request (`/v2` infer, gRPC ModelInfer) waits for its job by "
        "default, seconds; a request's `timeout` parameter (microseconds, as Triton's) may ask for "
        "more or less, up to MAAS_MAX_WAIT_S. A job still queued at the end is cancelled.",
    )

    result_ttl_s: int = Field(
        86_400, description="How long a finished job's record and result stay readable, seconds."
    )

    idempotency_retention_s: int = Field(
        86_400, description="How long an Idempotency-Key maps to its job, seconds."
    )

    max_queue_time_s: float = Field(
        3_600.0,
        description="Longest a job may wait in a lane before it expires, seconds; a job's "
        "timeout_s can only shorten it.",
    )

    visibility_timeout_s: float = Field(
        30.0,
        description="An entry a worker has held unacknowledged this long is claimed by another "
        "worker (the first one presumably died), seconds.",
    )

    max_deliveries: int = Field(
        5,
        description="An entry handed out this many times without finishing (its worker crashed "
        "or stalled each time) goes to the lane's dead-letter stream and its job fails.",
    )

    drain_timeout_s: float = Field(
        25.0, description="On SIGTERM a worker finishes in-flight batches within this, seconds."
    )

    json_offload_bytes: int = Field(
        1024 * 1024,
        ge=0,
        description="A job body larger than this is parsed (and its inputs turned into arrays) in "
        "a child process of the API, one body at a time, so that the API keeps answering (orjson "
        "and numpy hold the GIL while they build objects, in a thread too); bytes.",
    )

    max_metadata_bytes: int = Field(
        64 * 1024,
        ge=0,
        description="Largest `metadata` of a job or bulk job, as compact JSON, bytes (422); it is "
        "stored with the job for as long as the job is.",
    )

    max_echo_chars: int = Field(
        200,
        ge=16,
        description="Longest piece of a request (an id, a name, a list of names) an error message "
        "repeats back, characters; longer ones are cut with a note of how much was left out.",
    )

    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins (scheme://host[:port]) besides the API's own that may send "
        "state-changing requests (POST, PUT, PATCH, DELETE); a request with another `Origin`, or "
        "marked `Sec-Fetch-Site: cross-site`, gets 403.",
    )
