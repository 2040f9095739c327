"""Which tenants' queued jobs go into a lane's next batch: deficit round robin, pure code.

Each tenant waiting in the lane has a FIFO queue of jobs (their row counts). Tenants take turns
in a fixed rotation; each turn adds `quantum * weight` rows of credit to the tenant and lets
it take jobs from the head of its queue while their rows fit its credit and the batch. Credit a
tenant could not spend carries to the next batch (up to one batch) while it still waits, and is
dropped when its queue empties (credit cannot be saved up while idle). So while several tenants
wait, a batch's rows are shared in proportion to their weights, whatever each has queued; a
tenant alone takes the whole batch (nothing is held back for tenants that are not waiting); and
each tenant's jobs leave in their order.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

TURNS_PER_BATCH = 8


@dataclass(frozen=True)
class Turn:
    """One batch's picks, and where the next batch's rotation starts."""

    taken: Mapping[str, int]  # tenant -> how many jobs from the head of its queue
    credit: Mapping[str, float]  # rows of credit carried over, by tenants that still wait
    first: str | None  # the tenant whose turn comes first in the next batch

    @property
    def jobs(self) -> int:
        return sum(self.taken.values())


@dataclass(frozen=True)
class FairShare:
    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    default_weight: float = 1.0
    quantum_rows: float = 1.0  # the least credit a turn of weight 1 gives, rows

    def weight(self, tenant: str) -> float:
        return self.weights.get(tenant, self.default_weight)

    def pick(
        self,
        queues: Mapping[str, Sequence[int]],
        budget_rows: int,
        credit: Mapping[str, float] = MappingProxyType({}),
        first: str | None = None,
    ) -> Turn:
        """The jobs the next batch of at most `budget_rows` rows takes from each tenant's queue
        (row counts, oldest first), given the credit and rotation the last Turn left.

        Never empty while a queue is not: when no head job fits the budget, the first tenant's
        head job is taken alone (a lone job larger than the batch runs by itself)."""
        order = _rotation(sorted(t for t, q in queues.items() if q), first)
        if len(order) == 1:  # nobody to share with: as many head jobs as fit (at least one)
            return Turn({order[0]: _prefix(queues[order[0]], budget_rows)}, {}, None)
        # About TURNS_PER_BATCH turns per tenant per batch: fine enough to share every batch, few
        # enough to cost little (the quantum only sets the grain; shares follow the weights).
        quantum = max(self.quantum_rows, budget_rows / (TURNS_PER_BATCH * max(1, len(order))))
        state = _Round(queues, {t: credit.get(t, 0.0) for t in order}, dict.fromkeys(order, 0), budget_rows)
        last = None
        while state.left > 0:
            eligible = [t for t in order if state.fits(t)]
            if not eligible:
                break
            # Skip the rounds in which no tenant's credit would reach its head job. A tenant whose
            # head job does not fit what is left of this batch still earns its credit each round,
            # and spends it in the next batch: the cut between batches favours nobody.
            rounds = min(math.ceil(state.shortfall(t) / (quantum * self.weight(t))) for t in eligible)
            waiting = [t for t in order if state.head(t) is not None]
            for tenant in waiting:
                state.credit[tenant] += max(0, rounds - 1) * quantum * self.weight(tenant)
            for tenant in waiting:
                if state.left <= 0:
                    break
                state.credit[tenant] += quantum * self.weight(tenant)
                state.serve(tenant)
                last = tenant
        if order and not any(state.taken.values()):
            state.taken[order[0]] = 1
            last = order[0]
        return state.turn(order, last, budget_rows)


@dataclass
class _Round:
    """The mutable state of one pick."""

    queues: Mapping[str, Sequence[int]]
    credit: dict[str, float]
    taken: dict[str, int]
    left: int

    def head(self, tenant: str) -> int | None:
        queue, taken = self.queues[tenant], self.taken[tenant]
        return queue[taken] if taken < len(queue) else None

    def fits(self, tenant: str) -> bool:
        """The tenant waits, and its head job fits what is left of the batch."""
        rows = self.head(tenant)
        return rows is not None and rows <= self.left

    def shortfall(self, tenant: str) -> float:
        """Credit the tenant lacks to take its head job (it has one)."""
        return self.queues[tenant][self.taken[tenant]] - self.credit[tenant]

    def serve(self, tenant: str) -> None:
        """Takes the tenant's head jobs while they fit its credit and the batch."""
        while (rows := self.head(tenant)) is not None and rows <= min(self.credit[tenant], self.left):
            self.credit[tenant] -= rows
            self.left -= rows
            self.taken[tenant] += 1

    def turn(self, order: list[str], last: str | None, budget_rows: int) -> Turn:
        """The picks; credit carried over is capped at one batch."""
        waiting = [t for t in order if self.head(t) is not None]
        after = order[(order.index(last) + 1) % len(order)] if last is not None else None
        return Turn(
            taken={t: n for t, n in self.taken.items() if n},
            credit={t: min(self.credit[t], budget_rows) for t in waiting},
            first=after,
        )


def _prefix(rows: Sequence[int], budget_rows: int) -> int:
    """How many head jobs fit budget_rows; at least one."""
    total = 0
    for taken, n in enumerate(rows):
        total += n
        if total > budget_rows:
            return max(1, taken)
    return len(rows)


def _rotation(tenants: list[str], first: str | None) -> list[str]:
    """The tenants in name order, starting from `first` (or the next name after it, if it no
    longer waits)."""
    if first is None:
        return tenants
    start = next((i for i, t in enumerate(tenants) if t >= first), 0)
    return tenants[start:] + tenants[:start]


EVEN = FairShare()  # every tenant weighs 1
