"""Bulk files sealed in segments (maas.core.sealed_file through SealingFileStore): streaming,
seekable, and refused when cut short, reordered, moved or opened without their key."""

import io
import os
import zipfile

import numpy as np
import pytest

from maas.core.file_store import LocalFileStore, SealingFileStore, open_store
from maas.core.sealed_file import FILE_MAGIC, OVERHEAD
from maas.core.sealing import CLEAR, Sealer, SealError, new_ring_entry

RING = new_ring_entry("k1")
SEGMENT = 64


@pytest.fixture
def local(tmp_path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "bulk")


@pytest.fixture
def sealed(local) -> SealingFileStore:
    return SealingFileStore(local, Sealer.from_setting(RING), segment_bytes=SEGMENT)


def write(store, path: str, data: bytes, pieces: int = 7) -> None:
    with store.write_atomic(path) as f:
        for i in range(0, len(data), pieces):
            f.write(data[i : i + pieces])


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 5 * SEGMENT, 5 * SEGMENT + 17])
def test_what_is_written_reads_back_whole_and_is_not_on_disk(sealed, local, size):
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    write(sealed, "b1/input.jsonl", data)
    on_disk = local.open_read("b1/input.jsonl").read()
    assert on_disk.startswith(FILE_MAGIC)
    assert size < 16 or data[:16] not in on_disk
    with sealed.open_read("b1/input.jsonl") as f:
        assert f.read() == data
    assert sealed.size("b1/input.jsonl") == size


def test_reads_at_any_offset(sealed):
    data = os.urandom(10 * SEGMENT + 5)
    write(sealed, "b1/chunks/00000001", data, pieces=1000)
    with sealed.open_read("b1/chunks/00000001") as f:
        for offset, count in [(0, 3), (SEGMENT - 2, 5), (3 * SEGMENT, SEGMENT * 2 + 1), (len(data) - 4, 10)]:
            f.seek(offset)
            assert f.read(count) == data[offset : offset + count]
            assert f.tell() == min(len(data), offset + count)
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]


def test_an_npz_reads_through_its_seal(tmp_path, local):
    store = SealingFileStore(local, Sealer.from_setting(RING))  # the default 1 MiB segments
    pattern = np.arange(320_000, dtype=np.float32).reshape(-1, 64) * 0.25
    buffer = io.BytesIO()
    np.savez(buffer, x=pattern)
    write(store, "b2/input.npz", buffer.getvalue(), pieces=1 << 20)
    assert pattern.tobytes()[:64] not in local.open_read("b2/input.npz").read()
    with store.open_read("b2/input.npz") as f, zipfile.ZipFile(f) as archive:
        np.testing.assert_array_equal(np.load(archive.open("x.npy")), pattern)


def _tampered(local, sealed, path: str, change) -> None:
    write(sealed, path, os.urandom(4 * SEGMENT + 9))
    raw = bytearray(local.open_read(path).read())
    with local.write_atomic(path) as f:
        f.write(change(raw))


def _header_length(raw: bytes) -> int:
    return len(FILE_MAGIC) + 2 + raw[len(FILE_MAGIC) + 1] + 4


def test_a_file_cut_short_at_a_segment_boundary_does_not_open(local, sealed):
    record = SEGMENT + OVERHEAD
    _tampered(local, sealed, "b/x", lambda raw: raw[: _header_length(raw) + 2 * record])
    with sealed.open_read("b/x") as f, pytest.raises(SealError, match="segment 1 does not open"):
        f.read()


def test_reordered_segments_do_not_open(local, sealed):
    def swap(raw):
        start, record = _header_length(raw), SEGMENT + OVERHEAD
        first, second = raw[start : start + record], raw[start + record : start + 2 * record]
        return raw[:start] + second + first + raw[start + 2 * record :]

    _tampered(local, sealed, "b/x", swap)
    with sealed.open_read("b/x") as f, pytest.raises(SealError, match="segment 0 does not open"):
        f.read()


def test_a_file_moved_to_another_job_does_not_open(local, sealed):
    write(sealed, "b1/results/00000000", b"outputs of b1")
    with local.write_atomic("b2/results/00000000") as f:
        f.write(local.open_read("b1/results/00000000").read())
    with sealed.open_read("b2/results/00000000") as f, pytest.raises(SealError, match="another job"):
        f.read()


def test_a_file_cut_off_by_an_error_is_not_left_behind(local, sealed):
    with pytest.raises(RuntimeError), sealed.write_atomic("b/x") as f:
        f.write(b"half")
        raise RuntimeError("disk full")
    assert not local.exists("b/x")


def test_clear_files_read_as_they_are_and_sealed_ones_need_their_key(tmp_path, local, sealed):
    write(local, "old/input.jsonl", b'{"x": [1]}\n')  # written before keys were set
    with sealed.open_read("old/input.jsonl") as f:
        assert f.read() == b'{"x": [1]}\n'
    write(sealed, "new/input.jsonl", b'{"x": [2]}\n')
    with pytest.raises(SealError, match=r"data key 'k1', not in MAAS_DATA_KEYS \(none set\)"):
        open_store(local.url, CLEAR).open_read("new/input.jsonl")
    other = Sealer.from_setting(new_ring_entry("k9"))
    with pytest.raises(SealError, match=r"not in MAAS_DATA_KEYS \(k9\)"):
        open_store(local.url, other).open_read("new/input.jsonl")
    rotated = Sealer.from_setting(f"{new_ring_entry('k2')},{RING}")
    with open_store(local.url, rotated).open_read("new/input.jsonl") as f:
        assert f.read() == b'{"x": [2]}\n'


def test_without_keys_files_are_written_in_the_clear(local):
    write(open_store(local.url), "b/x", b"clear")
    assert local.open_read("b/x").read() == b"clear"
