"""A job as the server last described it (`JobState`), and the handles that act on it: `Job`
for `Client`, `AsyncJob` for `AsyncClient` (the same fields; `result`, `wait`, `refresh` and
`cancel` block or are awaited)."""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from maas_client.errors import JobFailed

if TYPE_CHECKING:  # the namespaces import this module; the handles only call them back
    from maas_client.async_client import AsyncJobs
    from maas_client.client import Jobs

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})


@dataclass(eq=False)  # identity: outputs are arrays, whose == is elementwise
class JobState:
    """`outputs` are numpy arrays by output name, with the model's dtypes (None until it
    succeeded); `error` is `{code, message}` when it failed or expired; `raw` is the JSON."""

    id: str
    status: str
    model: str
    version: int
    outputs: dict[str, np.ndarray] | None
    error: dict[str, str] | None
    timings: dict[str, Any] | None
    metadata: dict[str, Any] | None
    webhook: dict[str, Any] | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], outputs: dict[str, np.ndarray] | None) -> "JobState":
        return cls(
            id=record["id"],
            status=record["status"],
            model=record["model"],
            version=record["version"],
            outputs=outputs,
            error=record.get("error"),
            timings=record.get("timings"),
            metadata=record.get("metadata"),
            webhook=record.get("webhook"),
            created_at=record.get("created_at"),
            started_at=record.get("started_at"),
            finished_at=record.get("finished_at"),
            raw=dict(record),
        )

    @property
    def done(self) -> bool:
        """It reached a terminal state: succeeded, failed, cancelled or expired."""
        return self.status in TERMINAL

    def _update(self, state: "JobState") -> None:
        for f in fields(JobState):
            setattr(self, f.name, getattr(state, f.name))

    def _outputs_or_raise(self) -> dict[str, np.ndarray]:
        if self.status == "succeeded" and self.outputs is not None:
            return self.outputs
        error = self.error or {}
        raise JobFailed(
            self, error.get("code", self.status), error.get("message", f"the job is {self.status}")
        )


J = TypeVar("J", bound=JobState)


@dataclass(frozen=True)
class JobPage(Generic[J]):
    """One page of `jobs.list`, newest first (outputs are None in lists: `refresh()` a job for
    them); `next_cursor` asks for the next page, None at the end."""

    jobs: list[J]
    next_cursor: str | None


class Job(JobState):
    """A job of `Client`."""

    _jobs: "Jobs"

    @classmethod
    def bind(cls, state: JobState, jobs: "Jobs") -> "Job":
        job = cls(**{f.name: getattr(state, f.name) for f in fields(JobState)})
        job._jobs = jobs
        return job

    def result(self, timeout: float | None = None) -> dict[str, np.ndarray]:
        """Its outputs, long-polling until it ends (`timeout` seconds at most; None: no limit).
        Raises `JobFailed` if it failed, was cancelled or expired, `Timeout` if not done in time."""
        if not self.done:
            self.wait(timeout)
        return self._outputs_or_raise()

    def wait(self, timeout: float | None = None) -> "Job":
        """Long-polls until it ends; `Timeout` if it has not within `timeout` seconds."""
        self._update(self._jobs.wait(self.id, timeout))
        return self

    def refresh(self) -> "Job":
        self._update(self._jobs.get(self.id))
        return self

    def cancel(self) -> "Job":
        """Cancels it while queued; `Conflict` once it started or ended."""
        self._update(self._jobs.cancel(self.id))
        return self


class AsyncJob(JobState):
    """A job of `AsyncClient`: the same as `Job`, awaited."""

    _jobs: "AsyncJobs"

    @classmethod
    def bind(cls, state: JobState, jobs: "AsyncJobs") -> "AsyncJob":
        job = cls(**{f.name: getattr(state, f.name) for f in fields(JobState)})
        job._jobs = jobs
        return job

    async def result(self, timeout: float | None = None) -> dict[str, np.ndarray]:
        if not self.done:
            await self.wait(timeout)
        return self._outputs_or_raise()

    async def wait(self, timeout: float | None = None) -> "AsyncJob":
        self._update(await self._jobs.wait(self.id, timeout))
        return self

    async def refresh(self) -> "AsyncJob":
        self._update(await self._jobs.get(self.id))
        return self

    async def cancel(self) -> "AsyncJob":
        self._update(await self._jobs.cancel(self.id))
        return self
