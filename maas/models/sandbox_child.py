"""The child process of maas.models.sandbox: `python -m maas.models.sandbox_child`.

It reads one JSON request on stdin, {"task": "validate" | "rehearse", "path", "fixed_batch_size",
"memory_bytes", "cpu_s"}, and writes one JSON answer on stdout, {"outcome", "message",
"signature", "peak_bytes", "peak_vm_bytes", "baseline_vm_bytes"} (peaks are above the baseline).
Once its imports are done it limits its own address space to what it has then plus
`memory_bytes` (so the limit is about the model, whatever the runtimes' libraries take on this
machine) and its CPU time to `cpu_s`; only then does it open the file. Anything a library prints
goes to stderr, so stdout carries only the answer."""

import json
import os
import resource
import sys
from pathlib import Path

from maas.core.errors import InvalidInputError
from maas.models.sandbox import allocation_failed
from maas.models.validation import rehearse_load, validate_model_file


def _status_kib(field: str) -> int:
    """A field of /proc/self/status, KiB (0 where there is no /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _limit_self(memory_bytes: int, cpu_s: float) -> int:
    """Caps address space at the current size + `memory_bytes` and CPU time at `cpu_s`; returns
    the current size. Also restarts the peak-RSS count, so the peak is the model's."""
    baseline = _status_kib("VmSize") * 1024
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (baseline + memory_bytes, baseline + memory_bytes))
    cpu = max(1, int(cpu_s) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (Linux >= 4.0)
    except OSError:
        pass
    return baseline


def out_of_memory(error: BaseException | None) -> bool:
    """Whether an error, or one it was raised from, is a failed allocation."""
    while error is not None:
        if isinstance(error, MemoryError) or allocation_failed(str(error)):
            return True
        error = error.__cause__ or error.__context__
    return False


def _run(request: dict) -> dict:
    path = Path(request["path"])
    fixed = request.get("fixed_batch_size")
    try:
        if request["task"] == "validate":
            return {"outcome": "ok", "signature": validate_model_file(path, fixed).to_dict()}
        rehearse_load(path, fixed)
        return {"outcome": "ok"}
    except Exception as e:  # sorted below: the runtimes raise many unrelated types
        if out_of_memory(e):
            return {"outcome": "out_of_memory", "message": str(e)[:2000]}
        if isinstance(e, InvalidInputError):
            return {"outcome": "invalid", "message": e.message}
        if request["task"] == "rehearse":  # the worker's own load will meet and report this
            return {"outcome": "ok", "message": repr(e)[:2000]}
        return {"outcome": "error", "message": repr(e)[:2000]}


def main() -> None:
    answer_to = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # a library's print must not corrupt the answer
    request = json.loads(sys.stdin.read())
    baseline = _limit_self(int(request["memory_bytes"]), float(request["cpu_s"]))
    rss_before = _status_kib("VmRSS") * 1024
    answer = _run(request)
    answer["peak_bytes"] = max(0, _status_kib("VmHWM") * 1024 - rss_before)
    answer["peak_vm_bytes"] = max(0, _status_kib("VmPeak") * 1024 - baseline)
    answer["baseline_vm_bytes"] = baseline
    answer_to.write(json.dumps(answer))
    answer_to.flush()


if __name__ == "__main__":
    main()
