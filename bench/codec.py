"""`make bench`, protocols: the API's CPU to decode one request and encode its answer, per
protocol, measured in-process with the API's own functions (CPU time, which a crowded machine
distorts far less than throughput): /v1 JSON (orjson + the nested lists to arrays), /v2 JSON,
/v2 binary (np.frombuffer on the bytes after the JSON header)."""

import time

import numpy as np
import orjson
from protocols import request

from api.oip_rest import header_length, parse_infer, render_infer
from api.services.inference import InferResult
from maas.core.inputs import parse_inputs
from maas.models.registry import ModelVersion

MIN_CPU_S = 0.3  # per protocol and size: enough repetitions to be steady


def _v1(body: bytes, model: ModelVersion, outputs: dict) -> None:
    parse_inputs(orjson.loads(body)["inputs"], model.signature)
    orjson.dumps({"outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY)


def _v2(body: bytes, headers: tuple, outputs: dict) -> None:
    named = dict(h.split(": ", 1) for h in headers)
    parsed = parse_infer(body, header_length(named.get("Inference-Header-Content-Length"), len(body)))
    render_infer(InferResult("m", "1", None, "j", outputs, 1), parsed)


def cpu_us_per_request(model: ModelVersion, protocol: str, rows: int) -> float:
    _, body, headers = request(model, protocol, rows)
    outputs = {
        spec.name: np.zeros((rows, *(d or 1 for d in spec.shape[1:])), spec.dtype)
        for spec in model.signature.outputs
    }
    done, started = 0, time.process_time()
    while time.process_time() - started < MIN_CPU_S:
        if protocol == "v1-json":
            _v1(body, model, outputs)
        else:
            _v2(body, headers, outputs)
        done += 1
    return 1e6 * (time.process_time() - started) / done


def print_codec_costs(model: ModelVersion) -> dict:
    costs = {
        f"{protocol} x{rows}": round(cpu_us_per_request(model, protocol, rows), 1)
        for rows in (1, 64)
        for protocol in ("v1-json", "v2-json", "v2-binary")
    }
    shown = "  ".join(f"{name}: {us:,.0f} us" for name, us in costs.items())
    print(f"  API codec CPU per request, {model.name} (decode + encode): {shown}", flush=True)
    return costs
