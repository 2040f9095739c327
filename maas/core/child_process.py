"""Child processes of `maas serve` die with it, even when it is SIGKILLed and cannot stop them."""

import ctypes
import ctypes.util
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """A preexec_fn: ask Linux to send `sig` to this child when the thread that started it
    exits (so start children from the main thread)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig)
