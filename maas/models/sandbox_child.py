"""The child process of maas.models.sandbox: `python -m maas.models.sandbox_child`.

It reads JSON requests on stdin, one a line, {"task": "validate" | "rehearse", "path",
"fixed_batch_size", "memory_bytes", "cpu_s"}, and answers each with one line of JSON on stdout,
{"outcome", "message", "signature", "peak_bytes" (resident memory the request added at its peak),
"baseline_vm_bytes"}, until stdin closes. Before each request it limits its own address space
to what it has then plus `memory_bytes` (so the limit is about the model, whatever the runtimes'
libraries and earlier requests left on this machine) and its CPU time to what it has used plus
`cpu_s`; only then does it open the file. Anything a library prints goes to stderr, so stdout
carries only answers. Several requests share one child to pay its start (mostly importing the
runtimes) once."""

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
    """Caps address space at the current size + `memory_bytes` and CPU time at what was used +
    `cpu_s` (soft limits, so the next request can set its own); returns the current size. Also
    restarts the peak-RSS count, so the peak is this request's."""
    baseline = _status_kib("VmSize") * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (baseline + memory_bytes if memory_bytes > 0 else hard, hard))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (int(usage.ru_utime + usage.ru_stime + cpu_s) + 1, hard))
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


def _answer(request: dict) -> dict:
    baseline = _limit_self(int(request["memory_bytes"]), float(request["cpu_s"]))
    rss_before = _status_kib("VmRSS") * 1024
    answer = _run(request)
    answer["peak_bytes"] = max(0, _status_kib("VmHWM") * 1024 - rss_before)
    answer["baseline_vm_bytes"] = baseline
    return answer


def main() -> None:
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # a library's print must not corrupt the answers
    for line in sys.stdin:
        answers.write(json.dumps(_answer(json.loads(line))) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
