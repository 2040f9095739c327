"""/v2: the Open Inference Protocol (KServe v2) over REST, with the binary tensor data extension.
Translates HTTP; InferenceService does the work (api/services/inference.py), api/oip_rest.py the
body encoding. Errors come as {"error": "..."} (api/errors.py, for every /v2 path)."""

import re
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from api.body import read_bytes
from api.deps import AppSettings, Inference, JobsWriter, ModelsReader
from api.guard import is_json, media_type
from api.oip_rest import HEADER_LENGTH, header_length, parse_infer, render_infer
from api.responses import NumpyJSONResponse
from batching.jobs.view import job_public
from maas.core.access import Caller
from maas.core.errors import UnsupportedMediaTypeError

router = APIRouter(prefix="/v2", tags=["open inference protocol"])
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


@router.get("/health/live", summary="200 while the API answers")
async def live() -> Response:
    return Response(status_code=200)


@router.get("/health/ready", summary="200 when Redis answers and a worker is alive, else 503")
async def ready(inference: Inference) -> Response:
    return _ready(await inference.server_ready(), "the server")


@router.get("/models/{name}", summary="Model metadata (the latest version's signature)")
@router.get("/models/{name}/versions/{version}", summary="Model version metadata")
async def model_metadata(
    name: str, inference: Inference, caller: ModelsReader, version: str | None = None
) -> NumpyJSONResponse:
    return NumpyJSONResponse(await inference.model_metadata(caller, name, version))


@router.get("/models/{name}/ready", summary="200 when a worker holds the latest version loaded")
@router.get("/models/{name}/versions/{version}/ready", summary="200 when a worker holds it loaded")
async def model_ready(
    name: str, inference: Inference, caller: ModelsReader, version: str | None = None
) -> Response:
    return _ready(await inference.model_ready(caller, name, version), f"model {name!r}")


async def _infer(
    request: Request,
    name: str,
    version: str | None,
    inference: Inference,
    settings: AppSettings,
    caller: Caller,
    prefer: str | None,
    header_value: str | None,
) -> Response:
    _check_body_kind(request)
    body = await read_bytes(request, settings.max_body_bytes)
    infer = parse_infer(body, header_length(header_value, len(body)))
    if prefer and _RESPOND_ASYNC.search(prefer):
        record = await inference.submit(caller, name, version, infer.inputs)
        headers = {"Location": f"/v1/jobs/{record.id}", "Preference-Applied": "respond-async"}
        return NumpyJSONResponse(job_public(record), status_code=202, headers=headers)
    result = await inference.infer(
        caller, name, version, infer.id, infer.inputs, infer.outputs, infer.parameters
    )
    content, json_bytes = render_infer(result, infer)
    if json_bytes is None:
        return Response(content, media_type="application/json")
    headers = {"Inference-Header-Content-Length": str(json_bytes)}
    return Response(content, media_type="application/octet-stream", headers=headers)


PreferHeader = Annotated[str | None, Header(description="`respond-async`: answer 202 with the job.")]
LengthHeader = Annotated[
    str | None,
    Header(alias=HEADER_LENGTH, description="Bytes of JSON before the inputs' binary data."),
]


@router.post("/models/{name}/infer", summary="Infer with the latest version (as a batched job)")
async def infer_latest(
    request: Request,
    name: str,
    inference: Inference,
    settings: AppSettings,
    caller: JobsWriter,
    prefer: PreferHeader = None,
    inference_header_content_length: LengthHeader = None,
) -> Response:
    return await _infer(
        request, name, None, inference, settings, caller, prefer, inference_header_content_length
    )


@router.post("/models/{name}/versions/{version}/infer", summary="Infer with a version (as a batched job)")
async def infer_version(
    request: Request,
    name: str,
    version: str,
    inference: Inference,
    settings: AppSettings,
    caller: JobsWriter,
    prefer: PreferHeader = None,
    inference_header_content_length: LengthHeader = None,
) -> Response:
    return await _infer(
        request, name, version, inference, settings, caller, prefer, inference_header_content_length
    )
