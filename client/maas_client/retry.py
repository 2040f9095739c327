"""When a refused or unanswered call is tried again: a frozen value with pure methods, so the
rule is testable without a server or a clock."""

from dataclasses import dataclass

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """Calls answered 429 (queue full) or 503 (unavailable), and calls that got no answer where
    repeating them is safe, are tried again: after the server's `Retry-After` when it gives one
    (never sooner), else after an exponential backoff with jitter; at most `max_attempts` tries in
    all and never past `max_total_s` seconds since the first. `RetryPolicy(max_attempts=1)`
    turns retries off."""

    max_attempts: int = 5
    max_total_s: float = 30.0
    backoff_s: float = 0.25
    backoff_max_s: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff(self, attempt: int) -> float:
        """The pause after the `attempt`-th try (1-based), before jitter."""
        return min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))

    def delay_s(
        self, attempt: int, elapsed_s: float, retry_after_s: float | None, jitter: float = 1.0
    ) -> float | None:
        """Seconds to wait before the next try after the `attempt`-th failed, `elapsed_s` after
        the first began; None: give up (no tries left, or the wait would pass `max_total_s`).
        `jitter` (0.5-1 in use) spreads clients that failed together."""
        if attempt >= self.max_attempts:
            return None
        delay = max(retry_after_s or 0.0, self.backoff(attempt) * jitter)
        if elapsed_s + delay > self.max_total_s:
            return None
        return delay
