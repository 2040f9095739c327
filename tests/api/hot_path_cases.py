"""The requests tests/api/test_hot_path.py sends to the app with and without hot paths: each
hot route's good requests and every kind of refusal it has, and some that only the full stack
answers. `{name}` in a path or header is the side's own: its keys, its job, its origin."""

from dataclasses import dataclass, field

import numpy as np
import orjson

ROW = [0.5] * 64
JSON = {"Content-Type": "application/json"}
WRITER = {"Authorization": "Bearer {writer}"}
SUBMIT = {**WRITER, **JSON}
WAIT = {"Prefer": "wait=10"}
GOOD = orjson.dumps({"model": "digits", "inputs": [ROW]})
TENSOR = {"name": "pixels", "shape": [1, 64], "datatype": "FP32"}
INFER = orjson.dumps({"inputs": [{**TENSOR, "data": ROW}]})
BINARY_HEADER = orjson.dumps({"inputs": [{**TENSOR, "parameters": {"binary_data_size": 256}}]})
BINARY = BINARY_HEADER + np.full(64, 0.5, np.float32).tobytes()
OVERSIZED = b"[" + b"0," * (128 * 1024) + b"0]"  # past the tests' 256 KiB MAAS_MAX_BODY_BYTES
UNKNOWN_JOB = "01M8M76YG72CF2W8C2TBH890J1-1s2"
EVIL = "https://evil.example"


def chunked(body: bytes):
    """A body sent without Content-Length (chunked), so only reading it can find its size."""

    async def chunks():
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    return chunks


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int  # what both must answer
    headers: dict[str, str] = field(default_factory=dict)
    body: object = None  # bytes, or a function making a fresh chunked body
    hot: bool = True  # whether the hot paths answer it themselves


V1 = (
    Case("submit, waiting for the result", "POST", "/v1/jobs", 200, {**SUBMIT, "Prefer": "wait=10"}, GOOD),
    Case("submit", "POST", "/v1/jobs", 202, SUBMIT, GOOD),
    Case(
        "submit with the caller's request id",
        "POST",
        "/v1/jobs",
        202,
        {**SUBMIT, "X-Request-ID": "c-1"},
        GOOD,
    ),
    Case(
        "submit with an unfit request id",
        "POST",
        "/v1/jobs",
        202,
        {**SUBMIT, "X-Request-ID": "x" * 200},
        GOOD,
    ),
    Case("submit, an unreadable Prefer", "POST", "/v1/jobs", 202, {**SUBMIT, "Prefer": "wait=soon"}, GOOD),
    # Waiting, so that the replay finds the job ended (a queued job's state depends on the worker).
    Case("submit with a key", "POST", "/v1/jobs", 200, {**SUBMIT, "Idempotency-Key": "{idem}", **WAIT}, GOOD),
    Case(
        "submit with the key again",
        "POST",
        "/v1/jobs",
        200,
        {**SUBMIT, "Idempotency-Key": "{idem}", **WAIT},
        GOOD,
    ),
    Case("submit from the API's own origin", "POST", "/v1/jobs", 202, {**SUBMIT, "Origin": "{origin}"}, GOOD),
    Case("submit, no content type", "POST", "/v1/jobs", 202, WRITER, GOOD),
    Case("submit, malformed JSON", "POST", "/v1/jobs", 422, SUBMIT, b'{"model": "dig'),
    Case("submit, not an object", "POST", "/v1/jobs", 422, SUBMIT, b"[1, 2]"),
    Case("submit, no inputs", "POST", "/v1/jobs", 422, SUBMIT, b'{"model": "digits"}'),
    Case(
        "submit, a short row",
        "POST",
        "/v1/jobs",
        422,
        SUBMIT,
        orjson.dumps({"model": "digits", "inputs": [ROW[1:]]}),
    ),
    Case(
        "submit, an unknown model",
        "POST",
        "/v1/jobs",
        404,
        SUBMIT,
        orjson.dumps({"model": "nope", "inputs": [ROW]}),
    ),
    Case("submit as text", "POST", "/v1/jobs", 415, {**WRITER, "Content-Type": "text/plain"}, GOOD),
    Case(
        "submit as a form",
        "POST",
        "/v1/jobs",
        415,
        {**WRITER, "Content-Type": "application/x-www-form-urlencoded"},
        GOOD,
    ),
    Case("submit from another site", "POST", "/v1/jobs", 403, {**SUBMIT, "Origin": EVIL}, GOOD),
    Case(
        "submit, a cross-site fetch",
        "POST",
        "/v1/jobs",
        403,
        {**SUBMIT, "Sec-Fetch-Site": "cross-site"},
        GOOD,
    ),
    Case("submit, declared too large", "POST", "/v1/jobs", 413, SUBMIT, OVERSIZED),
    Case("submit, chunked too large", "POST", "/v1/jobs", 413, SUBMIT, chunked(OVERSIZED)),
    Case("submit without a key", "POST", "/v1/jobs", 401, JSON, GOOD),
    Case(
        "submit with an unknown key",
        "POST",
        "/v1/jobs",
        401,
        {**JSON, "Authorization": "Bearer maas_sk_x_y"},
        GOOD,
    ),
    Case(
        "submit with a read-only key",
        "POST",
        "/v1/jobs",
        403,
        {**JSON, "Authorization": "Bearer {reader}"},
        GOOD,
    ),
    Case(
        "submit with a limited key",
        "POST",
        "/v1/jobs",
        202,
        {**JSON, "Authorization": "Bearer {limited}"},
        GOOD,
    ),
    Case(
        "submit past the key's rate",
        "POST",
        "/v1/jobs",
        429,
        {**JSON, "Authorization": "Bearer {limited}"},
        GOOD,
    ),
    Case("read a job", "GET", "/v1/jobs/{job}", 200, WRITER),
    Case(
        "read a job with a read-only key", "GET", "/v1/jobs/{job}", 200, {"Authorization": "Bearer {reader}"}
    ),
    Case("read an unknown job", "GET", f"/v1/jobs/{UNKNOWN_JOB}", 404, WRITER),
    Case("read a job id that is none", "GET", "/v1/jobs/nope", 404, WRITER),
    Case("read a job without a key", "GET", "/v1/jobs/{job}", 401),
    Case("read a job, long-polling", "GET", "/v1/jobs/{job}?wait=1", 200, WRITER, hot=False),
    Case("read a job, a negative wait", "GET", "/v1/jobs/{job}?wait=-1", 422, WRITER, hot=False),
    Case("read a job with a trailing slash", "GET", "/v1/jobs/{job}/", 307, WRITER, hot=False),
    Case("HEAD a job", "HEAD", "/v1/jobs/{job}", 405, WRITER, hot=False),
    Case("PUT a job", "PUT", "/v1/jobs/{job}", 405, SUBMIT, GOOD, hot=False),
    Case("cancel an ended job", "DELETE", "/v1/jobs/{job}", 409, WRITER),
    Case("list jobs of a model", "GET", "/v1/jobs?model=nope", 200, WRITER, hot=False),
    Case("list models", "GET", "/v1/models", 200, WRITER, hot=False),
    Case("an unknown path", "GET", "/v1/nope", 404, WRITER, hot=False),
)
V2 = (
    Case("infer", "POST", "/v2/models/digits/infer", 200, SUBMIT, INFER),
    Case("infer a version", "POST", "/v2/models/digits/versions/1/infer", 200, SUBMIT, INFER),
    Case(
        "infer, respond-async",
        "POST",
        "/v2/models/digits/infer",
        202,
        {**SUBMIT, "Prefer": "respond-async"},
        INFER,
    ),
    Case(
        "infer binary tensors",
        "POST",
        "/v2/models/digits/infer",
        200,
        {
            **WRITER,
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(BINARY_HEADER)),
        },
        BINARY,
    ),
    Case("infer, malformed JSON", "POST", "/v2/models/digits/infer", 400, SUBMIT, b'{"inputs": ['),
    Case(
        "infer, a wrong datatype",
        "POST",
        "/v2/models/digits/infer",
        400,
        SUBMIT,
        INFER.replace(b"FP32", b"INT8"),
    ),
    Case("infer an unknown model", "POST", "/v2/models/nope/infer", 404, SUBMIT, INFER),
    Case("infer an unknown version", "POST", "/v2/models/digits/versions/9/infer", 404, SUBMIT, INFER),
    Case(
        "infer a gzipped body",
        "POST",
        "/v2/models/digits/infer",
        415,
        {**SUBMIT, "Content-Encoding": "gzip"},
        INFER,
    ),
    Case(
        "infer as text",
        "POST",
        "/v2/models/digits/infer",
        415,
        {**WRITER, "Content-Type": "text/plain"},
        INFER,
    ),
    Case(
        "infer from another site", "POST", "/v2/models/digits/infer", 403, {**SUBMIT, "Origin": EVIL}, INFER
    ),
    Case("infer, too large", "POST", "/v2/models/digits/infer", 413, SUBMIT, OVERSIZED),
    Case("infer without a key", "POST", "/v2/models/digits/infer", 401, JSON, INFER),
    Case("model metadata", "GET", "/v2/models/digits", 200, WRITER),
    Case("server metadata", "GET", "/v2", 200),
    Case("live", "GET", "/v2/health/live", 200),
)
CASES = V1 + V2
