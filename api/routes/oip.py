"""/v2: the Open Inference Protocol (KServe v2) over REST, with the binary tensor data extension.
Translates HTTP; InferenceService does the work (api/services/inference.py), api/oip_rest.py the
body encoding. Errors come as {"error": "..."} (api/errors.py, for every /v2 path)."""

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from api.body import read_bytes
from api.deps import AppSettings, Inference, JobsWriter, ModelsReader
from api.guard import is_json, media_type
from api.lean_route import LeanRoute
from api.oip_rest import HEADER_LENGTH, header_length, parse_infer, render_infer
from api.oip_types import DATATYPES, MAX_DIM, MAX_RANK
from api.responses import NumpyJSONResponse
from batching.jobs.view import job_public
from maas.core.access import Caller
from maas.core.errors import UnsupportedMediaTypeError

_ERROR_BODY = {
    "application/json": {
        "schema": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
    }
}
# What a /v2 call may answer besides its success, always as {"error": "..."} (the spec's shape).
V2_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": why, "content": _ERROR_BODY}
    for status, why in (
        (400, "a tensor, datatype, shape or body that does not fit the model or the protocol"),
        (401, "no or an unknown API key"),
        (403, "the key lacks the scope"),
        (404, "unknown model or version"),
        (413, "a body over MAAS_MAX_BODY_BYTES"),
        (415, "a body type other than JSON or octet-stream, or a compressed body"),
        (429, "the lane or the tenant is full, or the key past its rate (Retry-After)"),
        (503, "not ready, or Redis unreachable"),
        (504, "the infer's timeout passed (the job is cancelled or left to finish, as it says)"),
    )
}
_NO_BODY: dict[int | str, dict[str, Any]] = {200: {"description": "ready (no body)", "content": {}}}
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "shape": {
            "type": "array",
            "maxItems": MAX_RANK,
            "items": {"type": "integer", "minimum": 0, "maximum": MAX_DIM},
        },
        "datatype": {"type": "string", "enum": sorted(DATATYPES)},
        "parameters": {"type": "object"},
        "data": {"description": "The values, flat row-major or nested; absent with binary data."},
    },
}
# The OIP inference request (KServe v2); whether its tensors fit the model is checked per model.
_INFER_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "minItems": 1, "items": _TENSOR},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
            },
        },
    },
}
_INFER_BODY = {
    "requestBody": {
        "required": True,
        "description": "JSON, or with the binary tensor data extension the JSON request "
        "(Inference-Header-Content-Length bytes, sent as application/octet-stream) followed by "
        "the tensors' bytes, which no schema describes.",
        "content": {
            "application/json": {"schema": _INFER_REQUEST},
        },
    }
}

router = APIRouter(prefix="/v2", tags=["open inference protocol"], responses=V2_ERRORS, route_class=LeanRoute)
_RESPOND_ASYNC = re.compile(r"(?:^|[,;\s])respond-async(?:$|[,;\s])", re.IGNORECASE)
_NOT_READY = 503  # any non-200 is "false" to v2 clients; 503 is what probes and balancers expect


def _ready(ready: bool, what: str) -> Response:
    if ready:
        return Response(status_code=200)
    return NumpyJSONResponse({"error": f"{what} is not ready"}, status_code=_NOT_READY)


def _check_body_kind(request: Request) -> None:
    """JSON, application/octet-stream (what clients send with binary tensors, and aiohttp for any
    bytes; a browser cannot send it cross-site without a preflight), or no declared type.
    Compressed bodies are refused rather than misread."""
    kind = media_type(request)
    if kind and not is_json(kind) and kind != "application/octet-stream":
        raise UnsupportedMediaTypeError(f"body: send application/json, not {kind[:100]}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise UnsupportedMediaTypeError(f"body: Content-Encoding {encoding[:40]!r} is not supported")


@router.get("", summary="Server metadata")
async def server_metadata(inference: Inference) -> NumpyJSONResponse:
    return NumpyJSONResponse(inference.server_metadata())


@router.get("/health/live", summary="200 while the API answers", response_class=Response, responses=_NO_BODY)
async def live() -> Response:
    return Response(status_code=200)


@router.get(
    "/health/ready",
    summary="200 when Redis answers and a worker is alive, else 503",
    response_class=Response,
    responses=_NO_BODY,
)
async def ready(inference: Inference) -> Response:
    return _ready(await inference.server_ready(), "the server")


@router.get("/models/{name}", summary="Model metadata (the latest version's signature)")
@router.get("/models/{name}/versions/{version}", summary="Model version metadata")
async def model_metadata(
    name: str, inference: Inference, caller: ModelsReader, version: str | None = None
) -> NumpyJSONResponse:
    return NumpyJSONResponse(await inference.model_metadata(caller, name, version))


@router.get(
    "/models/{name}/ready",
    summary="200 when a worker holds the latest version loaded",
    response_class=Response,
    responses=_NO_BODY,
)
@router.get(
    "/models/{name}/versions/{version}/ready",
    summary="200 when a worker holds it loaded",
    response_class=Response,
    responses=_NO_BODY,
)
async def model_ready(
    name: str, inference: Inference, caller: ModelsReader, version: str | None = None
) -> Response:
    return _ready(await inference.model_ready(caller, name, version), f"model {name!r}")


@dataclass(frozen=True)
class InferHeaders:
    """The headers an infer reads besides the body's type."""

    prefer: str | None  # `respond-async`: answer 202 with the job
    header_length: str | None  # Inference-Header-Content-Length: the JSON part of a binary body
    traceparent: str | None  # the caller's W3C trace context, kept with the job (as for /v1)


async def _infer(
    request: Request,
    name: str,
    version: str | None,
    inference: Inference,
    settings: AppSettings,
    caller: Caller,
    headers: InferHeaders,
) -> Response:
    _check_body_kind(request)
    body = await read_bytes(request, settings.max_body_bytes)
    infer = parse_infer(body, header_length(headers.header_length, len(body)))
    if headers.prefer and _RESPOND_ASYNC.search(headers.prefer):
        record = await inference.submit(caller, name, version, infer.inputs, traceparent=headers.traceparent)
        answer = {"Location": f"/v1/jobs/{record.id}", "Preference-Applied": "respond-async"}
        return NumpyJSONResponse(job_public(record), status_code=202, headers=answer)
    result = await inference.infer(
        caller,
        name,
        version,
        infer.id,
        infer.inputs,
        infer.outputs,
        infer.parameters,
        traceparent=headers.traceparent,
    )
    content, json_bytes = render_infer(result, infer)
    if json_bytes is None:
        return Response(content, media_type="application/json")
    length = {"Inference-Header-Content-Length": str(json_bytes)}
    return Response(content, media_type="application/octet-stream", headers=length)


PreferHeader = Annotated[str | None, Header(description="`respond-async`: answer 202 with the job.")]
LengthHeader = Annotated[
    str | None,
    Header(alias=HEADER_LENGTH, description="Bytes of JSON before the inputs' binary data."),
]
TraceHeader = Annotated[
    str | None, Header(description="W3C trace context: the inference's job spans join this trace.")
]


@router.post(
    "/models/{name}/infer",
    summary="Infer with the latest version (as a batched job)",
    openapi_extra=_INFER_BODY,
    responses={202: {"description": "Prefer: respond-async: the job, at Location"}},
)
async def infer_latest(
    request: Request,
    name: str,
    inference: Inference,
    settings: AppSettings,
    caller: JobsWriter,
    prefer: PreferHeader = None,
    inference_header_content_length: LengthHeader = None,
    traceparent: TraceHeader = None,
) -> Response:
    headers = InferHeaders(prefer, inference_header_content_length, traceparent)
    return await _infer(request, name, None, inference, settings, caller, headers)


@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Infer with a version (as a batched job)",
    openapi_extra=_INFER_BODY,
    responses={202: {"description": "Prefer: respond-async: the job, at Location"}},
)
async def infer_version(
    request: Request,
    name: str,
    version: str,
    inference: Inference,
    settings: AppSettings,
    caller: JobsWriter,
    prefer: PreferHeader = None,
    inference_header_content_length: LengthHeader = None,
    traceparent: TraceHeader = None,
) -> Response:
    headers = InferHeaders(prefer, inference_header_content_length, traceparent)
    return await _infer(request, name, version, inference, settings, caller, headers)
