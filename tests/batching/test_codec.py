"""The binary tensor codec and the job record round-trip exactly; corrupt payloads are refused."""

import struct

import numpy as np
import pytest

from batching.codec import CodecError, decode_tensors, encode_tensors
from batching.entry import LaneEntry
from batching.jobs.record import JobError, JobRecord, JobResult, JobStatus, JobTimings
from maas.core.signature import SUPPORTED_DTYPES


@pytest.mark.parametrize("dtype", sorted(SUPPORTED_DTYPES, key=str))
def test_every_supported_dtype_round_trips(dtype):
    rng = np.random.default_rng(0)
    if dtype.kind == "b":
        array = rng.random((3, 4)) > 0.5
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        array = np.array([[info.min, info.max, 0], [1, 2, 3]], dtype=dtype)
    else:
        array = rng.standard_normal((2, 3, 4)).astype(dtype)
        array[0, 0, 0] = np.finfo(dtype).max
    decoded = decode_tensors(encode_tensors({"t": array}))
    assert decoded["t"].dtype == dtype
    np.testing.assert_array_equal(decoded["t"], array)


def test_several_tensors_and_odd_shapes_round_trip():
    tensors = {
        "név": np.arange(6, dtype=np.int64).reshape(1, 2, 3),
        "empty": np.zeros((2, 0), np.float32),
        "scalar": np.array(3.5, np.float64),
        "strided": np.arange(20, dtype=np.float32).reshape(4, 5)[:, ::2],
    }
    decoded = decode_tensors(encode_tensors(tensors))
    assert list(decoded) == list(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(decoded[name], array)
        assert decoded[name].shape == array.shape


@pytest.mark.parametrize(
    "corrupt",
    [
        b"",
        b"XX1",
        b"MT1\x01\x00",
        encode_tensors({"x": np.ones((4, 4))})[:-3],
        encode_tensors({"x": np.ones(2)}) + b"\x00",
        # Dims whose product wraps around in 64 bits (to 0 bytes) are still far more than given.
        b"MT1" + struct.pack("<HH", 1, 1) + b"x" + struct.pack("<BB2Q", 11, 2, 2**32, 2**32),
    ],
)
def test_corrupt_payloads_raise_codec_error(corrupt):
    with pytest.raises(CodecError):
        decode_tensors(corrupt)


def test_unsupported_dtypes_are_refused():
    with pytest.raises(CodecError, match="complex128"):
        encode_tensors({"x": np.ones(2, np.complex128)})


def test_job_record_round_trips_through_its_hash_fields():
    record = JobRecord(
        id="01M8JGKP0D4TVQ7RHSTBYNM2RK",
        status=JobStatus.QUEUED,
        model="m",
        version=3,
        rows=2,
        created_at=1.25,
        deadline=61.25,
        metadata={"a": [1, "b"]},
    )
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in record.to_fields().items()}
    result = JobResult(
        JobStatus.SUCCEEDED,
        2.5,
        outputs={"y": np.ones((2, 1), np.float32)},
        timings=JobTimings(1.0, 0.5, 8),
    )
    raw.update({k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in result.to_fields().items()})
    raw[b"status"] = b"succeeded"
    back = JobRecord.from_fields(raw)
    assert (back.id, back.model, back.version, back.rows, back.metadata) == (
        record.id,
        "m",
        3,
        2,
        {"a": [1, "b"]},
    )
    assert back.finished_at == 2.5 and back.timings == JobTimings(1.0, 0.5, 8)
    np.testing.assert_array_equal(back.outputs["y"], np.ones((2, 1)))
    failed = JobResult(JobStatus.FAILED, 3.0, error=JobError("inference_error", "boom"))
    assert failed.to_fields()["error"] == b'{"code":"inference_error","message":"boom"}'


def test_lane_entry_round_trips():
    entry = LaneEntry("01M8JGKP0D4TVQ7RHSTBYNM2RK", 3, 10.5, b"MT1payload")
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in entry.to_fields().items()}
    back = LaneEntry.from_fields(b"1-0", raw)
    assert back == LaneEntry(entry.job_id, 3, 10.5, b"MT1payload", b"1-0")
    assert b"deadline" not in raw  # the job record holds it; the claim script reads it there
