"""Bulk files in an object store: the FileStore contract kept by a local directory and by an S3
bucket (s3fs over HTTP to a real S3 API server, tests/support/s3_server.py), sealed or not, and a
bulk job run end to end with MAAS_BULK_STORE_URL=s3://... by real API, rq worker and worker
processes, its files in the bucket and none on local disk."""

import io

import numpy as np
import onnxruntime as ort
import pytest

from maas.core.errors import FileStoreError
from maas.core.file_store import LocalFileStore, SealingFileStore, base_store, open_store
from maas.core.sealing import Sealer, new_ring_entry
from tests.conftest import DIGITS
from tests.maas.conftest import BUCKET
from tests.support.bulk_helpers import npy, submit, wait_for_status


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalFileStore(tmp_path / "files")
    request.getfixturevalue("s3")
    return base_store(f"s3://{BUCKET}/jobs")


def test_a_file_written_is_read_back_whole(store):
    with store.write_atomic("b1/input.npy") as f:
        f.write(b"x" * 3_000_000)
    assert store.exists("b1/input.npy") and store.size("b1/input.npy") == 3_000_000
    with store.open_read("b1/input.npy") as f:
        f.seek(2_999_990)
        assert f.read() == b"x" * 10


def test_a_write_that_fails_leaves_no_file(store):
    with pytest.raises(RuntimeError), store.write_atomic("b2/chunk-0") as f:
        f.write(b"half of it")
        raise RuntimeError("the split died here")
    assert not store.exists("b2/chunk-0")
    with pytest.raises(FileStoreError, match="not in the file store"):
        store.open_read("b2/chunk-0")


@pytest.mark.parametrize("path", ["../other/x", "/etc/passwd", "a/../../b"])
def test_a_path_out_of_the_store_is_refused(store, path):
    with pytest.raises(FileStoreError, match="leaves the file store"):
        store.open_read(path)


def test_remove_tree_deletes_a_jobs_files_only(store):
    for path in ("b3/input", "b3/chunks/0", "b4/input"):
        with store.write_atomic(path) as f:
            f.write(b"1")
    store.remove_tree("b3")
    store.remove_tree("never-written")
    assert [store.exists(p) for p in ("b3/input", "b3/chunks/0", "b4/input")] == [False, False, True]


def test_sealed_files_in_the_store_read_back_and_seek(store):
    sealed = SealingFileStore(store, Sealer.from_setting(new_ring_entry("k1")), segment_bytes=4096)
    data = np.arange(10_000, dtype=np.int64).tobytes()
    with sealed.write_atomic("b5/output") as f:
        f.write(data)
    with store.open_read("b5/output") as raw:
        assert data[:64] not in raw.read()  # sealed at rest
    with sealed.open_read("b5/output") as f:
        f.seek(50_000)
        assert f.read(16) == data[50_000:50_016]
    assert sealed.size("b5/output") == len(data)


def test_an_unknown_protocol_is_a_clear_error():
    with pytest.raises(FileStoreError, match="nosuch"):
        open_store("nosuch://bucket/x")


@pytest.fixture
def settings(settings, s3):
    return settings.model_copy(update={"bulk_store_url": f"s3://{BUCKET}/bulk"})


async def test_a_bulk_job_keeps_its_files_in_the_bucket(s3, settings, api, processes):
    await processes.ready("rq-worker")
    await processes.ready("worker")
    rows = np.random.default_rng(0).random((250, 64), np.float32)
    job = await submit(api, "rows.npy", npy(rows), model="digits", version="1", chunk_rows=100)
    final = await wait_for_status(api, job["id"], {"succeeded", "failed"}, timeout_s=90)
    assert final["counts"] == {"total": 250, "succeeded": 250, "failed": 0}
    got = np.load(io.BytesIO((await api.get(f"/v1/bulk-jobs/{job['id']}/output")).content))
    session = ort.InferenceSession(str(DIGITS / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(got, session.run(None, {"pixels": rows})[0], rtol=1e-5, atol=1e-6)
    s3.invalidate_cache()
    stored = s3.find(f"{BUCKET}/bulk")
    assert any(job["id"] in path for path in stored), stored
    assert not (settings.state_dir / "bulk").exists() or not any((settings.state_dir / "bulk").rglob("*"))
