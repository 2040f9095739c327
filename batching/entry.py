"""One lane (stream) entry: the job id, its row count, when it was queued, its encoded inputs and
its tenant (whose sub-stream of the lane holds it: see keys.lane_stream).

The job's deadline lives in its record, where the claim script reads it. Entries queued by older
versions also carry a `deadline` field, and none a `tenant`: decoding ignores fields it does not
know and reads a missing tenant as the default one, so they run. A missing `tp` (trace
context) is an untraced job.
"""

import time
from dataclasses import dataclass

from batching.keys import DEFAULT_TENANT


@dataclass(frozen=True)
class LaneEntry:
    job_id: str
    rows: int
    created_at: float  # submitter's wall clock, seconds since the epoch
    inputs: bytes  # batching.codec payload
    stream_id: bytes = b""  # set once read back from the stream
    deliveries: int = 1  # how often the group handed it out (more than 1: it was reclaimed)
    tenant: str = DEFAULT_TENANT
    traceparent: str = ""  # W3C trace context of the job's submit; "" when it has none

    def age_s(self) -> float:
        return time.time() - self.created_at

    def to_fields(self) -> dict[str, bytes | str]:
        fields: dict[str, bytes | str] = {
            "job": self.job_id,
            "rows": str(self.rows),
            "t": repr(self.created_at),
            "inputs": self.inputs,
            "tenant": self.tenant,
        }
        if self.traceparent:  # absent, not empty, when untraced: no bytes on the common path
            fields["tp"] = self.traceparent
        return fields

    @classmethod
    def from_fields(cls, stream_id: bytes, raw: dict[bytes, bytes], deliveries: int = 1) -> "LaneEntry":
        return cls(
            job_id=raw[b"job"].decode(),
            rows=int(raw[b"rows"]),
            created_at=float(raw[b"t"]),
            inputs=raw[b"inputs"],
            stream_id=stream_id,
            deliveries=deliveries,
            tenant=raw[b"tenant"].decode() if b"tenant" in raw else DEFAULT_TENANT,
            traceparent=raw[b"tp"].decode() if b"tp" in raw else "",
        )
