"""When a micro-batch leaves and how many queued jobs it takes: pure code, no clock, no Redis."""

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPolicy:
    max_batch_size: int  # rows
    max_queue_delay_s: float
    preferred_batch_sizes: tuple[int, ...] = ()

    @property
    def full_rows(self) -> int:
        """Rows at which waiting cannot make a better batch: the largest preferred size, or max."""
        return max(self.preferred_batch_sizes) if self.preferred_batch_sizes else self.max_batch_size

    def ready(self, rows: int, oldest_waited_s: float) -> bool:
        """Dispatch now? A full batch goes at once; any other after the oldest waited the delay."""
        if rows <= 0:
            return False
        return rows >= self.full_rows or oldest_waited_s >= self.max_queue_delay_s

    def take(self, row_counts: list[int]) -> int:
        """How many queued jobs (in arrival order, `row_counts` rows each) the batch takes.

        The longest prefix within max_batch_size; with preferred sizes, the longest such prefix
        whose rows add up to a preferred size when there is one. Never 0 for a non-empty queue:
        a lone job larger than max_batch_size runs alone.
        """
        total, taken, best_preferred = 0, 0, 0
        for rows in row_counts:
            if total + rows > self.max_batch_size:
                break
            total += rows
            taken += 1
            if total in self.preferred_batch_sizes:
                best_preferred = taken
        if row_counts and taken == 0:
            return 1
        return best_preferred or taken
