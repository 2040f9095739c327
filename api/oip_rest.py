"""The REST encoding of Open Inference Protocol inference requests and responses: the JSON header
and the binary tensor data extension, both ways. No HTTP here: the route hands over the body's
bytes and the `Inference-Header-Content-Length` header, and gets back bytes and headers.

Only the JSON header is parsed as JSON; tensors sent as binary are cut out of the body with their
`binary_data_size` and viewed as numpy arrays (np.frombuffer), so a big binary body is never
walked element by element. Every mismatch is a 400 naming the tensor."""

from dataclasses import dataclass, field

import numpy as np
import orjson

from api.body import loads
from api.oip_types import datatype_of, from_bytes, from_list
from api.services.inference import InferResult
from maas.core.errors import InvalidInputError

HEADER_LENGTH = "inference-header-content-length"


@dataclass
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[str] | None  # None: every output
    binary_outputs: set[str] = field(default_factory=set)  # named outputs asked for as binary
    binary_default: bool = False  # `binary_data_output`: outputs not named otherwise are binary
    parameters: dict = field(default_factory=dict)


def header_length(value: str | None, body_bytes: int) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) > body_bytes:
        raise InvalidInputError(
            f"Inference-Header-Content-Length: {value[:40]!r} is not a length within the body "
            f"({body_bytes} bytes)",
            ("headers", "Inference-Header-Content-Length"),
        )
    return int(value)


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: expected a JSON object", (where,))
    return value


def _name(item: dict, where: str) -> str:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"{where}: every tensor needs a `name` string", (where,))
    return name


class _Binary:
    """The bytes after the JSON header, handed out in the order the inputs claim them."""

    def __init__(self, data: memoryview):
        self.data, self.offset = data, 0

    def take(self, name: str, size: object) -> memoryview:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInputError(
                f"inputs.{name}: binary_data_size must be a non-negative integer", ("inputs", name)
            )
        end = self.offset + size
        if end > len(self.data):
            raise InvalidInputError(
                f"inputs.{name}: binary_data_size {size} runs past the body: only "
                f"{len(self.data) - self.offset} bytes are left (truncated)",
                ("inputs", name),
            )
        piece, self.offset = self.data[self.offset : end], end
        return piece

    def check_used(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise InvalidInputError(
                f"body: {left} bytes after the last input's binary data (trailing bytes)", ("body",)
            )


def _tensor(item: object, binary: _Binary) -> tuple[str, np.ndarray]:
    item = _object(item, "inputs")
    name = _name(item, "inputs")
    parameters = _object(item.get("parameters") or {}, f"inputs.{name}.parameters")
    datatype, shape = item.get("datatype"), item.get("shape")
    if "binary_data_size" in parameters:
        if "data" in item:
            raise InvalidInputError(f"inputs.{name}: both data and binary_data_size", ("inputs", name))
        return name, from_bytes(name, datatype, shape, binary.take(name, parameters["binary_data_size"]))
    if "data" not in item:
        raise InvalidInputError(f"inputs.{name}: needs data or binary_data_size", ("inputs", name))
    return name, from_list(name, datatype, shape, item["data"])


def _inputs(items: object, binary: _Binary) -> dict[str, np.ndarray]:
    if not isinstance(items, list) or not items:
        raise InvalidInputError("inputs: expected a non-empty list of tensors", ("inputs",))
    inputs: dict[str, np.ndarray] = {}
    for item in items:
        name, array = _tensor(item, binary)
        if name in inputs:
            raise InvalidInputError(f"inputs.{name}: given twice", ("inputs", name))
        inputs[name] = array
    binary.check_used()
    return inputs


def _outputs(items: object, request: InferRequest) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        raise InvalidInputError("outputs: expected a list of {name, parameters}", ("outputs",))
    request.outputs = []
    for item in items:
        output = _object(item, "outputs")
        name = _name(output, "outputs")
        request.outputs.append(name)
        parameters = _object(output.get("parameters") or {}, f"outputs.{name}.parameters")
        if parameters.get("binary_data", request.binary_default) is True:
            request.binary_outputs.add(name)


def parse_infer(body: bytes, header_bytes: int | None) -> InferRequest:
    """The request from its body: JSON only, or (with the header length) a JSON header followed
    by the inputs' binary data."""
    view = memoryview(body)
    header = _object(loads(body if header_bytes is None else bytes(view[:header_bytes])), "body")
    binary = _Binary(view[header_bytes:] if header_bytes is not None else memoryview(b""))
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInputError("id: expected a string", ("id",))
    parameters = _object(header.get("parameters") or {}, "parameters")
    request = InferRequest(request_id, _inputs(header.get("inputs"), binary), None, parameters=parameters)
    request.binary_default = parameters.get("binary_data_output") is True
    _outputs(header.get("outputs"), request)
    return request


def _wire(array: np.ndarray) -> np.ndarray:
    """The array little-endian and contiguous, as both JSON (orjson) and binary want it."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def render_infer(result: InferResult, request: InferRequest) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it."""
    described, buffers = [], []
    for name, array in result.outputs.items():
        tensor: dict = {"name": name, "datatype": datatype_of(array.dtype), "shape": list(array.shape)}
        binary = name in request.binary_outputs or (request.outputs is None and request.binary_default)
        if binary:
            buffers.append(_wire(array).tobytes())
            tensor["parameters"] = {"binary_data_size": len(buffers[-1])}
        else:
            # float16 is not among orjson's numpy types; lists are fine for the rare FP16 output.
            flat = _wire(array).ravel()
            tensor["data"] = flat.tolist() if array.dtype == np.float16 else flat
        described.append(tensor)
    body: dict = {"model_name": result.model_name, "model_version": result.model_version}
    if result.request_id is not None:
        body["id"] = result.request_id
    # Which job it was (readable at /v1/jobs/{id}) and how many rows its batch held.
    body["parameters"] = {"job_id": result.job_id, "batch_size": result.batch_size or 0}
    body["outputs"] = described
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    if not buffers:
        return header, None
    return b"".join([header, *buffers]), len(header)
