"""Versions made of several files: a model whose weights live in external data files, uploaded
as one archive (tar, tar.gz, zip) or dropped into the repository by hand, served with the answers
onnxruntime gives on the same files. A hostile archive, or one whose files do not match what
the model references, is refused whole: nothing in the repository, nothing left in staging."""

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from api.upload import staging_root
from tests.conftest import in_process_api
from tests.support import large_models
from tests.support.model_versions import finished, snapshot
from tests.support.waiting import wait_until

WIDTH = 32


def tar_of(entries: list[tuple[str, bytes | tarfile.TarInfo]], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, content in entries:
            if isinstance(content, tarfile.TarInfo):
                archive.addfile(content)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def version_entries(folder: Path, prefix: str = "") -> list[tuple[str, bytes]]:
    return [(prefix + p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def expected(folder: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


async def post_archive(api, name: str, filename: str, content: bytes, config: dict | None = None):
    data = {"config": json.dumps(config)} if config is not None else None
    files = {"file": (filename, content, "application/octet-stream")}
    return await api.post(f"/v1/models/{name}/versions", files=files, data=data)


async def score(api, name: str, x: np.ndarray) -> np.ndarray:
    body = {"model": name, "inputs": x.tolist()}
    response = await api.post("/v1/jobs", json=body, headers={"Prefer": "wait=20"})
    job = await finished(api, response.json())
    assert job["status"] == "succeeded", job
    return np.asarray(job["outputs"]["y"], np.float32)


@pytest.mark.parametrize("packing", ["tar.gz", "tar", "zip-in-a-folder"])
async def test_an_archived_version_with_external_data_is_stored_whole_and_served(
    api, worker, model_repo, settings, tmp_path, packing
):
    source = tmp_path / "source"
    large_models.mlp(source, WIDTH, 3, files=2)
    (source / "config.json").write_text(json.dumps({"max_queue_delay_ms": 1}))
    if packing == "zip-in-a-folder":  # `zip -r m.zip mymodel/`: the folder is unwrapped
        filename, content = "m.zip", zip_of(version_entries(source, "mymodel/"))
    else:
        filename = f"m.{packing}"
        content = tar_of(version_entries(source), "w:gz" if packing == "tar.gz" else "w")
    response = await post_archive(api, "big", filename, content)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["config"]["max_queue_delay_ms"] == 1
    sizes = sum(p.stat().st_size for p in source.iterdir() if p.name != "config.json")
    assert created["size_bytes"] == sizes
    version_dir = model_repo / "big" / "1"
    assert sorted(p.name for p in version_dir.iterdir()) == [
        "config.json",
        "model.onnx",
        "version.json",
        "weights-0.bin",
        "weights-1.bin",
    ]
    recorded = json.loads((version_dir / "version.json").read_text())["data_files"]
    assert [f["path"] for f in recorded] == ["weights-0.bin", "weights-1.bin"]
    assert recorded[0]["sha256"] == large_models.sha256_of(source / "weights-0.bin")
    x = np.random.default_rng(1).standard_normal((3, WIDTH)).astype(np.float32)
    np.testing.assert_allclose(await score(api, "big", x), expected(source, x), rtol=1e-5, atol=1e-6)
    assert not list(staging_root(settings).glob("upload-*/*"))


async def test_a_version_dropped_in_by_hand_with_external_data_is_served(model_repo, worker_handle, api):
    folder = model_repo / "dropped" / "1"
    large_models.mlp(folder, WIDTH, 2, files=1)
    await worker_handle.start()
    x = np.ones((2, WIDTH), np.float32)
    np.testing.assert_allclose(await score(api, "dropped", x), expected(folder, x), rtol=1e-5, atol=1e-6)


def _link(kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo("weights-0.bin")
    info.type, info.linkname = kind, target
    return info


def _model_with(tmp_path: Path, location: str) -> bytes:
    """A model.onnx whose one weight points at `location`."""
    folder = tmp_path / "pointing"
    large_models.mlp(folder, WIDTH, 1)
    model = large_models.onnx.load(str(folder / "model.onnx"), load_external_data=False)
    model.graph.initializer[0].external_data[0].value = location
    return model.SerializeToString()


def hostile(case: str, source: Path, tmp_path: Path) -> tuple[str, bytes]:
    entries = version_entries(source)
    model = [e for e in entries if e[0] == "model.onnx"]
    tar_cases = {
        "path escape": [*entries, ("../../escaped.bin", b"x")],
        "nested escape": [*entries, ("sub/../../escaped.bin", b"x")],
        "absolute path": [*entries, ("/tmp/absolute.bin", b"x")],
        "symlink": [*model, ("weights-0.bin", _link(tarfile.SYMTYPE, "/etc/passwd"))],
        "hard link": [*model, ("weights-0.bin", _link(tarfile.LNKTYPE, "model.onnx"))],
        "duplicate entry": [*entries, ("weights-0.bin", b"again")],
        "hidden file": [*entries, (".hidden", b"x")],
        "own metadata": [*entries, ("version.json", b"{}")],
        "unreferenced data": [*entries, ("extra.bin", b"not used by the model")],
        "missing data": model,
        "two models": [*entries, ("other.onnx", model[0][1])],
        "reference escape": [("model.onnx", _model_with(tmp_path, "../weights-0.bin")), entries[1]],
        "absolute reference": [("model.onnx", _model_with(tmp_path, "/etc/passwd")), entries[1]],
        "not an archive": None,
    }
    if case == "not an archive":
        return "m.tar.gz", b"\x1f\x8bnot really gzip"
    return "m.tar.gz", tar_of(tar_cases[case])


HOSTILE = {
    "path escape": "leaves the version directory",
    "nested escape": "leaves the version directory",
    "absolute path": "is an absolute path",
    "symlink": "is a link or a special file",
    "hard link": "is a link or a special file",
    "duplicate entry": "appears twice",
    "hidden file": "not starting with '.'",
    "own metadata": "written by the repository itself",
    "unreferenced data": "not referenced by the model",
    "missing data": "is missing from the version",
    "two models": "exactly one .onnx or .tflite file",
    "reference escape": "not a plain path inside the version directory",
    "absolute reference": "not a plain path inside the version directory",
    "not an archive": "not a readable tar or zip archive",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_a_hostile_archive_is_refused_with_nothing_written(api, model_repo, settings, tmp_path, case):
    source = tmp_path / "source"
    large_models.mlp(source, WIDTH, 1)
    filename, content = hostile(case, source, tmp_path)
    before = snapshot(model_repo)
    response = await post_archive(api, "big", filename, content)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert HOSTILE[case] in error["message"] and error["loc"] == ["file"], error
    assert snapshot(model_repo) == before
    assert not list(staging_root(settings).glob("upload-*"))
    assert not (tmp_path.parent / "escaped.bin").exists() and not Path("/tmp/absolute.bin").exists()


@pytest.mark.parametrize(
    "limits, says",
    [
        ({"max_version_files": 2}, "more than 2 files (MAAS_MAX_VERSION_FILES)"),
        ({"max_model_bytes": 16_000}, "unpack to more than 16000 bytes"),
    ],
)
async def test_an_archive_past_its_limits_is_refused_with_nothing_written(
    settings, redis, model_repo, tmp_path, limits, says
):
    source = tmp_path / "source"
    large_models.mlp(source, WIDTH, 2, files=2)
    (source / "zeros.bin").write_bytes(bytes(1_000_000))  # compresses to almost nothing: a small bomb
    content = tar_of(version_entries(source))
    assert len(content) < 16_000
    before = snapshot(model_repo)
    async with in_process_api(settings.model_copy(update=limits)) as api:
        response = await post_archive(api, "big", "m.tgz", content)
    assert response.status_code == 422, response.text
    assert says in response.json()["error"]["message"]
    assert snapshot(model_repo) == before
    assert not list(staging_root(settings).glob("upload-*"))


async def test_a_config_in_the_archive_and_as_a_part_is_refused(api, model_repo, tmp_path):
    source = tmp_path / "source"
    large_models.mlp(source, WIDTH, 1)
    (source / "config.json").write_text("{}")
    response = await post_archive(api, "big", "m.tar", tar_of(version_entries(source), "w"), {})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["loc"] == ["config"]


async def test_the_worker_reports_a_version_with_a_missing_data_file_failed(model_repo, worker_handle, api):
    folder = model_repo / "broken" / "1"
    large_models.mlp(folder, WIDTH, 1)
    (folder / "weights-0.bin").unlink()
    worker = await worker_handle.start()

    def state() -> dict:
        return worker.lanes.states.get("broken:1", {})

    failed = await wait_until(lambda: state().get("state") == "failed" and state(), 10, "broken:1 failed")
    assert "weights-0.bin" in failed["error"]


async def test_external_data_sent_as_parts_beside_the_model_is_stored_and_served(
    api, worker, model_repo, tmp_path
):
    source = tmp_path / "source"
    large_models.mlp(source, WIDTH, 2, files=2)
    files = [("file", ("model.onnx", (source / "model.onnx").read_bytes()))]
    files += [("data", (f"weights-{i}.bin", (source / f"weights-{i}.bin").read_bytes())) for i in (0, 1)]
    response = await api.post("/v1/models/parts/versions", files=files)
    assert response.status_code == 201, response.text
    assert sorted(p.name for p in (model_repo / "parts" / "1").iterdir()) == [
        "model.onnx",
        "version.json",
        "weights-0.bin",
        "weights-1.bin",
    ]
    x = np.ones((2, WIDTH), np.float32)
    np.testing.assert_allclose(await score(api, "parts", x), expected(source, x), rtol=1e-5, atol=1e-6)
    escaping = [files[0], ("data", ("../weights-0.bin", b"x"))]
    refused = await api.post("/v1/models/parts/versions", files=escaping)
    assert refused.status_code == 422 and refused.json()["error"]["loc"] == ["data"], refused.text
    missing = await api.post("/v1/models/parts/versions", files=files[:2])
    assert missing.status_code == 422 and "is missing from the version" in missing.text
