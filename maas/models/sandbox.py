"""Checks a model file in a child process (maas.models.sandbox_child) under an address-space and
CPU-time limit and a wall-clock timeout, so that a file of a few hundred bytes that asks for
gigabytes, or computes for ever, costs a child that is refused or killed, never the API or the
worker that asked. Requests and answers cross the pipes as JSON, never pickle.

Two checks: `validate` (an upload: the full validation, answering its signature) and `rehearse`
(a worker's load and warm-up batch, measured before the worker does it for real)."""

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from maas.core.child_process import die_with_parent
from maas.core.errors import InvalidInputError, MaasError
from maas.core.settings import Settings
from maas.core.signature import Signature
from maas.models.signatures import parse_signature

CHILD_MODULE = "maas.models.sandbox_child"
MIB = 1024 * 1024
# An upload's file is held about three times while it is validated (its bytes, the parsed
# protobuf, the session's initializers), so its allowance grows with its size.
UPLOAD_COPIES = 3
# Substrings of what runtimes say when an allocation fails (onnxruntime's arena, C++'s
# std::bad_alloc, errno ENOMEM); Python's MemoryError is recognised by type or name.
ALLOCATION_FAILURES = ("failed to allocate", "bad_alloc", "bad allocation", "cannot allocate memory")


def allocation_failed(text: str) -> bool:
    text = text.lower()
    return "memoryerror" in text or any(s in text for s in ALLOCATION_FAILURES)


class Outcome(StrEnum):
    OK = "ok"
    INVALID = "invalid"  # the validation's own verdict; the message says why
    OUT_OF_MEMORY = "out_of_memory"
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"  # killed by a signal of its runtime's making (SIGSEGV, SIGABRT...)
    ERROR = "error"  # the child failed for a reason of ours, not the file's


@dataclass(frozen=True)
class CheckLimits:
    memory_bytes: int  # address space the check may add to the child's own after its imports
    timeout_s: float  # wall clock, the child's start included


@dataclass(frozen=True)
class CheckRequest:
    task: str  # "validate" (an upload's full validation) or "rehearse" (a worker's load)
    path: Path
    fixed_batch_size: int | None = None


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    message: str = ""
    signature: Signature | None = None
    peak_bytes: int = 0  # resident memory the check added at its peak


def upload_limits(settings: Settings, path: Path) -> CheckLimits:
    """The model's allowance grows with its version's files, its external data included."""
    files_bytes = sum(p.stat().st_size for p in path.parent.rglob("*") if p.is_file())
    memory = int(settings.upload_validation_memory_mb * MIB) + UPLOAD_COPIES * files_bytes
    return CheckLimits(memory, settings.upload_validation_timeout_s)


def _parse(line: bytes) -> CheckResult:
    answer = json.loads(line)
    return CheckResult(
        Outcome(answer["outcome"]),
        str(answer.get("message") or ""),
        parse_signature(answer.get("signature")),
        int(answer.get("peak_bytes", 0)),
    )


def _request_line(request: CheckRequest, limits: CheckLimits) -> bytes:
    fields = {
        "task": request.task,
        "path": str(request.path),
        "fixed_batch_size": request.fixed_batch_size,
        "memory_bytes": limits.memory_bytes,
        "cpu_s": limits.timeout_s,
    }
    return json.dumps(fields).encode() + b"\n"


def _death(returncode: int, stderr_tail: str) -> CheckResult:
    """Why a child ended without answering."""
    if allocation_failed(stderr_tail):  # e.g. an uncaught std::bad_alloc, then SIGABRT
        return CheckResult(Outcome.OUT_OF_MEMORY, stderr_tail)
    if returncode == -signal.SIGXCPU:
        return CheckResult(Outcome.TIMED_OUT, "CPU time limit")
    if returncode < 0:
        return CheckResult(Outcome.CRASHED, f"ended by {signal.Signals(-returncode).name}")
    return CheckResult(Outcome.ERROR, f"exit status {returncode}: {stderr_tail}")


async def _keep_tail(stream: asyncio.StreamReader, tail: bytearray) -> None:
    """Reads the child's stderr as it comes (a full pipe would stall it), keeping its end."""
    while chunk := await stream.read(65536):
        tail += chunk
        del tail[:-2000]


async def _one_child(requests: list[CheckRequest], limits: CheckLimits) -> list[CheckResult]:
    """Results of the requests, in order, from one child, up to and including the first it
    fails on by dying or overrunning the timeout (then the rest need another child)."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", CHILD_MODULE),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    assert process.stdin and process.stdout and process.stderr  # all three are pipes
    tail = bytearray()
    draining = asyncio.create_task(_keep_tail(process.stderr, tail))
    results: list[CheckResult] = []
    try:
        for request in requests:
            process.stdin.write(_request_line(request, limits))
            try:
                async with asyncio.timeout(limits.timeout_s):  # the first one includes the start
                    await process.stdin.drain()
                    line = await process.stdout.readline()
            except TimeoutError:
                results.append(CheckResult(Outcome.TIMED_OUT, f"no answer within {limits.timeout_s:g} s"))
                break
            if not line:
                returncode = await process.wait()
                await draining
                results.append(_death(returncode, tail.decode(errors="replace").strip()))
                break
            results.append(_parse(line))
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        draining.cancel()
    return results


async def run_checks(requests: list[CheckRequest], limits: CheckLimits) -> list[CheckResult]:
    """One result per request, each check within `limits`; a child is killed past its timeout
    or when its caller is cancelled, and a child that died takes only its own request along."""
    results: list[CheckResult] = []
    while len(results) < len(requests):
        results += await _one_child(requests[len(results) :], limits)
    return results


async def run_check(request: CheckRequest, limits: CheckLimits) -> CheckResult:
    return (await run_checks([request], limits))[0]


async def validate_in_child(path: Path, fixed_batch_size: int | None, settings: Settings) -> Signature:
    """maas.models.validation.validate_model_file in a child within the upload limits: the
    signature, or InvalidInputError (loc `file`) saying what is wrong, running out of memory and
    time included."""
    limits = upload_limits(settings, path)
    result = await run_check(CheckRequest("validate", path, fixed_batch_size), limits)
    if result.outcome is Outcome.OK and result.signature is not None:
        return result.signature
    if result.outcome is Outcome.INVALID:
        raise InvalidInputError(result.message, ("file",))
    if result.outcome in (Outcome.OK, Outcome.ERROR):  # OK without a signature: ours too
        raise MaasError(f"model validation failed in its child process: {result.message}")
    raise InvalidInputError(f"file: {_exhausted(result, limits)}", ("file",))


def _exhausted(result: CheckResult, limits: CheckLimits) -> str:
    memory_mb = limits.memory_bytes / MIB
    if result.outcome is Outcome.TIMED_OUT:
        return (
            f"the model needs more than {limits.timeout_s:g} s to validate (a 2-row batch of "
            "zeros included; MAAS_UPLOAD_VALIDATION_TIMEOUT_S)"
        )
    if result.outcome is Outcome.CRASHED:
        return (
            f"validating it crashed its runtime ({result.message}), or it needs more than "
            f"{memory_mb:.0f} MB to validate"
        )
    return (
        f"the model needs more than {memory_mb:.0f} MB to validate (a 2-row batch of zeros "
        f"included; MAAS_UPLOAD_VALIDATION_MEMORY_MB plus {UPLOAD_COPIES}x the file's size); "
        "a model that allocates this much for a trial batch is refused"
    )
