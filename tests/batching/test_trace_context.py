"""A job's trace context round-trips through its record and its lane entry, and only a
well-formed W3C traceparent is ever kept."""

from dataclasses import replace

from batching.bulk.lane import ChunkEntry
from batching.bulk.record import BulkFormat, BulkRecord, BulkStatus
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


def test_a_bulk_record_and_its_chunk_entries_keep_their_traceparent():
    record = BulkRecord(
        id="01M8JGKP0D4TVQ7RHSTBYNM2RK",
        status=BulkStatus.VALIDATING,
        model="m",
        version=1,
        format=BulkFormat.NPY,
        store="file:///tmp/x",
        chunk_rows=10,
        created_at=1.0,
        traceparent=TRACEPARENT,
    )
    assert BulkRecord.from_fields(_raw(record.to_fields())).traceparent == TRACEPARENT
    assert "traceparent" not in replace(record, traceparent=None).to_fields()
    chunk = ChunkEntry("01M8JGKP0D4TVQ7RHSTBYNM2RK", 2, 10, "file:///tmp/x", traceparent=TRACEPARENT)
    assert ChunkEntry.from_fields(b"1-0", _raw(chunk.to_fields())) == replace(chunk, stream_id=b"1-0")
    untraced = replace(chunk, traceparent="").to_fields()
    assert "tp" not in untraced and ChunkEntry.from_fields(b"1-0", _raw(untraced)).traceparent == ""
