"""The OpenAPI document made as strict as the server: what routes check by hand (model names,
aliases, the Idempotency-Key, multipart parts, a config patch, key fields) stated as patterns,
enums and required parts; the statuses the guards answer on any route; and links from each
create to the routes that take what it returns. tests/api/test_openapi_fuzz.py holds the
document to the server with a schema fuzzer."""

import copy
from typing import Any

from api.chunked import CONTENT_RANGE
from maas.core.access import MAX_COUNT, TENANT_PATTERN, Scope
from maas.models.aliases import ALIAS_PATTERN, RESERVED
from maas.models.config import ModelConfig
from maas.models.store import NAME_PATTERN

Document = dict[str, Any]
ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}
NAME = {"type": "string", "pattern": NAME_PATTERN.pattern, "title": "Name"}
ALIAS = {
    "type": "string",
    "pattern": ALIAS_PATTERN.pattern,
    "not": {"enum": sorted(RESERVED)},
    "title": "Alias",
}
# A version number, or `latest` or an alias (the alias pattern covers `latest`).
VERSION_TEXT = rf"^([0-9]{{1,9}}|{ALIAS_PATTERN.pattern[1:-1]})$"
COUNT_TEXT = "^[1-9][0-9]{0,8}$"
# batching/jobs/idempotency.py takes 1-255 printable characters; ASCII ones are what a header carries.
IDEMPOTENCY_KEY = {"type": "string", "pattern": "^[\\x20-\\x7e]{1,255}$", "maxLength": 255}
# maas.core.access: a count of 1 to MAX_COUNT and a unit, spaces allowed around each part.
_N = f"0*[1-9][0-9]{{0,{len(str(MAX_COUNT)) - 1}}}"
_COUNT, _UNIT = rf"\s*{_N}\s*", r"[smhd]\s*"
DURATION = f"^$|^{_COUNT}{_UNIT}$"  # empty: none (no expiry, no grace)
RATE = rf"^\s*0?\s*$|^{_COUNT}/\s*({_N})?\s*{_UNIT}$"  # empty or 0: unlimited
GUARD_STATUSES = ("401", "403", "429", "503")  # keys and scopes, rate limits, Redis down: any /v1 route
BODY_STATUSES = ("413", "415")  # size limits and the content-type guard: routes taking a body


def _operation(document: Document, path: str, method: str) -> dict[str, Any]:
    return document["paths"][path][method]


def _parameters(document: Document) -> None:
    """Path names and aliases by their patterns; the Idempotency-Key by what it may hold."""
    for ops in document["paths"].values():
        for op in ops.values():
            for parameter in op.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in ("name", "alias"):
                    parameter["schema"] = dict(NAME if parameter["name"] == "name" else ALIAS)
                if parameter["in"] == "header" and parameter["name"] == "idempotency-key":
                    parameter["schema"] = dict(IDEMPOTENCY_KEY)


def _multipart(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def _bulk_form(form: dict[str, Any], server_paths: bool) -> None:
    """Its texts' patterns; an upload, or a server-side path where the server takes paths."""
    fields = form["properties"]
    fields["version"]["pattern"] = VERSION_TEXT
    fields["format"]["enum"] = ["jsonl", "npy", "npz"]
    for count in ("chunk_rows", "retention_s"):
        fields[count]["pattern"] = COUNT_TEXT
    form["additionalProperties"] = False
    if server_paths:
        fields["path"]["description"] += " Not with a `file`."
        form["anyOf"] = [{"required": ["file"]}, {"required": ["path"]}]
    else:  # MAAS_BULK_INPUT_DIRS is empty: a `path` is refused
        del fields["path"]
        form["required"] = [*form["required"], "file"]


def _bodies(document: Document, server_paths: bool) -> None:
    """The bodies routes read themselves: their required parts, and field texts' patterns."""
    bulk = _operation(document, "/v1/bulk-jobs", "post")["requestBody"]["content"]["multipart/form-data"]
    _bulk_form(bulk["schema"], server_paths)
    upload = {
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "The .onnx or .tflite model."},
            "config": {"type": "string", "format": "binary", "description": "config.json (optional)."},
        },
    }
    _operation(document, "/v1/models/{name}/versions", "post")["requestBody"] = _multipart(upload)
    patch = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ConfigPatch"}}},
    }
    _operation(document, "/v1/models/{name}/versions/{version}/config", "patch")["requestBody"] = patch
    _chunk(_operation(document, "/v1/models/{name}/uploads/{upload_id}", "put"))


def _chunk(op: dict[str, Any]) -> None:
    """A resumable upload's chunk: raw bytes, and the `Content-Range` they fill (api/chunked.py)."""
    op["requestBody"] = {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
    header = {
        "name": "content-range",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": CONTENT_RANGE.pattern},
        "description": "`bytes <first>-<last>/<size>`: the bytes this chunk carries (last inclusive).",
    }
    op["parameters"] = [*op.get("parameters", []), header]


def config_patch_schema() -> dict[str, Any]:
    """A JSON merge patch of a config: any of its fields, each also null (removes it)."""
    schema = ModelConfig.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    for name, field in schema["properties"].items():
        field.pop("default", None)
        schema["properties"][name] = {"anyOf": [field, {"type": "null"}], "title": field.get("title", name)}
    return {**schema, "title": "ConfigPatch", "minProperties": 1}


def _components(document: Document) -> None:
    schemas = document["components"]["schemas"]
    version = schemas["JobCreate"]["properties"]["version"]
    version["anyOf"] = [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": ALIAS_PATTERN.pattern},
        {"type": "null"},
    ]
    for name, nested in (
        ModelConfig.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items()
    ):
        schemas.setdefault(name, nested)
    schemas["ConfigPatch"] = config_patch_schema()
    # An upload's `config` is a whole config.json, checked as ModelConfig (api/upload.py).
    config = ModelConfig.model_json_schema(ref_template="#/components/schemas/{model}")
    config.pop("$defs", None)
    config["properties"]["access"]["anyOf"][0]["items"] |= {"pattern": TENANT_PATTERN.pattern}
    schemas.setdefault("ModelConfig", config)
    for body in ("UploadCreate", "UploadByReference"):
        field = schemas[body]["properties"]["config"]
        field["anyOf"] = [{"$ref": "#/components/schemas/ModelConfig"}, {"type": "null"}]
    key = schemas["KeyCreate"]["properties"]
    key["tenant"] |= {"pattern": TENANT_PATTERN.pattern}
    key["scopes"] |= {"items": {"enum": [s.value for s in Scope]}, "minItems": 1, "uniqueItems": True}
    for field, pattern in (("expires", DURATION), ("rate", RATE)):
        key[field]["anyOf"] = [{"type": "string", "pattern": pattern}, {"type": "null"}]
    rotate = schemas["KeyRotate"]["properties"]["grace"]
    rotate["anyOf"] = [{"type": "string", "pattern": DURATION}, {"type": "null"}]


def _statuses(document: Document) -> None:
    """What any /v1 route may answer besides its own: the guards' refusals."""
    for path, ops in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for op in ops.values():
            statuses = GUARD_STATUSES + (BODY_STATUSES if "requestBody" in op else ())
            for status in statuses:
                op["responses"].setdefault(status, copy.deepcopy(ERROR))


# (create path, method, its success status) -> the routes taking what it returns, and how.
JOB = {"job_id": "$response.body#/id"}
BULK = {"bulk_id": "$response.body#/id"}
KEY = {"key_id": "$response.body#/id"}
VERSION = {"name": "$request.path.name", "version": "$response.body#/version"}
ALIASED = {"name": "$request.path.name", "alias": "$request.path.alias"}
LINKS: dict[tuple[str, str, str], list[tuple[str, str, str, dict[str, str]]]] = {
    ("/v1/jobs", "post", "202"): [
        ("GetJob", "/v1/jobs/{job_id}", "get", JOB),
        ("CancelJob", "/v1/jobs/{job_id}", "delete", JOB),
        ("RedeliverWebhook", "/v1/jobs/{job_id}/webhook/redeliver", "post", JOB),
    ],
    ("/v1/bulk-jobs", "post", "202"): [
        ("GetBulkJob", "/v1/bulk-jobs/{bulk_id}", "get", BULK),
        ("CancelBulkJob", "/v1/bulk-jobs/{bulk_id}/cancel", "post", BULK),
        ("BulkOutput", "/v1/bulk-jobs/{bulk_id}/output", "get", BULK),
        ("BulkErrors", "/v1/bulk-jobs/{bulk_id}/errors", "get", BULK),
        ("DeleteBulkJob", "/v1/bulk-jobs/{bulk_id}", "delete", BULK),
    ],
    ("/v1/keys", "post", "201"): [
        ("GetKey", "/v1/keys/{key_id}", "get", KEY),
        ("RotateKey", "/v1/keys/{key_id}/rotate", "post", KEY),
        ("RevokeKey", "/v1/keys/{key_id}", "delete", KEY),
    ],
    ("/v1/models/{name}/versions", "post", "201"): [
        ("GetVersion", "/v1/models/{name}/versions/{version}", "get", VERSION),
        ("ConfigureVersion", "/v1/models/{name}/versions/{version}/config", "patch", VERSION),
        ("RetireVersion", "/v1/models/{name}/versions/{version}", "delete", VERSION),
    ],
    ("/v1/models/{name}/aliases/{alias}", "put", "200"): [
        ("RollbackAlias", "/v1/models/{name}/aliases/{alias}/rollback", "post", ALIASED),
        ("RemoveAlias", "/v1/models/{name}/aliases/{alias}", "delete", ALIASED),
    ],
}


def _links(document: Document) -> None:
    """Response links: e.g. POST /v1/jobs's `id` is the `job_id` of GET/DELETE /v1/jobs/{job_id}
    (and the 200 of `Prefer: wait` carries the same links as the 202)."""
    for (path, method, status), targets in LINKS.items():
        links = {
            name: {"operationId": _operation(document, target, verb)["operationId"], "parameters": params}
            for name, target, verb, params in targets
        }
        responses = _operation(document, path, method)["responses"]
        for answer in {status, "200"} & set(responses):
            responses[answer]["links"] = links


# Bulk outputs stream as files (api/services/bulk.py MEDIA_TYPES), not JSON.
STREAMS = {
    "/v1/bulk-jobs/{bulk_id}/output": ("application/x-ndjson", "application/octet-stream", "application/zip"),
    "/v1/bulk-jobs/{bulk_id}/errors": ("application/x-ndjson",),
}


def _streams(document: Document) -> None:
    for path, media_types in STREAMS.items():
        answer = _operation(document, path, "get")["responses"]["200"]
        answer["content"] = {media_type: {"schema": {"type": "string"}} for media_type in media_types}


# pydantic writes a bound on a validated alias inside an optional (`WholeInt | None` with
# Field(ge=...)) as its own keyword; JSON Schema's names are these.
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _bound_names(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") in ("integer", "number"):
            for pydantic_name, schema_name in _BOUNDS.items():
                if pydantic_name in node:
                    node[schema_name] = node.pop(pydantic_name)
        for value in node.values():
            _bound_names(value)
    elif isinstance(node, list):
        for value in node:
            _bound_names(value)


def make_exact(document: Document, server_paths: bool) -> Document:
    """`server_paths`: whether bulk submits may name a server-side file (MAAS_BULK_INPUT_DIRS)."""
    _parameters(document)
    _bodies(document, server_paths)
    _components(document)
    _statuses(document)
    _streams(document)
    _links(document)
    _bound_names(document)
    return document
