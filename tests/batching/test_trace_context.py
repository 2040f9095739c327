"""A job's trace context round-trips through its record and its lane entry, and only a
well-formed W3C traceparent is ever kept."""

from batching.entry import LaneEntry
from batching.jobs.record import JobRecord, JobStatus
from maas.core.tracing import valid_traceparent

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _raw(fields: dict) -> dict[bytes, bytes]:
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}


def _record(traceparent: str | None) -> JobRecord:
    return JobRecord(
        id="01M8JGKP0D4TVQ7RHSTBYNM2RK",
        status=JobStatus.QUEUED,
        model="m",
        version=1,
        rows=1,
        created_at=1.0,
        deadline=2.0,
        traceparent=traceparent,
    )


def test_the_record_keeps_its_traceparent_and_an_untraced_one_has_no_field():
    assert JobRecord.from_fields(_raw(_record(TRACEPARENT).to_fields())).traceparent == TRACEPARENT
    untraced = _record(None).to_fields()
    assert "traceparent" not in untraced
    assert JobRecord.from_fields(_raw(untraced)).traceparent is None


def test_the_lane_entry_keeps_its_traceparent_and_an_untraced_one_has_no_field():
    entry = LaneEntry("01M8JGKP0D4TVQ7RHSTBYNM2RK", 3, 10.5, b"MT1payload", traceparent=TRACEPARENT)
    back = LaneEntry.from_fields(b"1-0", _raw(entry.to_fields()))
    assert back == LaneEntry(entry.job_id, 3, 10.5, b"MT1payload", b"1-0", traceparent=TRACEPARENT)
    untraced = LaneEntry("01M8JGKP0D4TVQ7RHSTBYNM2RK", 3, 10.5, b"MT1payload").to_fields()
    assert "tp" not in untraced
    assert LaneEntry.from_fields(b"1-0", _raw(untraced)).traceparent == ""


def test_only_a_well_formed_traceparent_is_kept():
    assert valid_traceparent(TRACEPARENT) == TRACEPARENT
    assert valid_traceparent(" " + TRACEPARENT.upper() + " ") == TRACEPARENT
    for bad in (
        None,
        "",
        "garbage",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # all-zero parent id
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
        TRACEPARENT + "-extra",
    ):
        assert valid_traceparent(bad) is None, bad
