"""A large version (a few hundred MB of external data, sized for CI) uploaded as an archive to a
real API process (`maas api`): the API streams it to staging, unpacks it, hashes it and moves it
into place without ever holding the weights, and the trial run happens in the validation child,
so the API's peak resident memory stays within a small bound above its idle size."""

import tarfile
from pathlib import Path

import httpx
import pytest

from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.support import large_models
from tests.support.processes import MaasProcesses

WIDTH, DEPTH = 4096, 4  # 4 x 64 MiB of float32 weights, in two data files
RSS_BOUND_BYTES = 150 * 1024 * 1024


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.2,
        port=free_port(),
        upload_validation_timeout_s=300,
    )


def status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def archive(source: Path, target: Path) -> Path:
    with tarfile.open(target, "w") as tar:
        for path in sorted(source.iterdir()):
            tar.add(path, arcname=path.name)
    return target


async def test_a_large_archive_is_accepted_within_a_small_memory_bound(settings, redis, tmp_path):
    source = tmp_path / "source"
    large_models.mlp(source, WIDTH, DEPTH, files=2)
    tarball = archive(source, tmp_path / "large.tar")
    with MaasProcesses(settings, tmp_path) as processes:
        api = await processes.ready("api")
        base = f"http://127.0.0.1:{settings.port}"
        async with httpx.AsyncClient(base_url=base, timeout=600) as client:
            assert (await client.get("/v1/models")).status_code == 200  # warm: routes, imports
            idle = status_bytes(api.pid, "VmRSS")
            with tarball.open("rb") as body:
                files = {"file": ("large.tar", body, "application/x-tar")}
                response = await client.post("/v1/models/large/versions", files=files)
        assert response.status_code == 201, response.text
        peak = status_bytes(api.pid, "VmHWM")
    weights = DEPTH * WIDTH * WIDTH * 4
    assert response.json()["size_bytes"] > weights
    print(f"API idle {idle / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB for {weights / 2**20:.0f} MiB")
    assert peak - idle < RSS_BOUND_BYTES, (idle, peak)
    stored = settings.model_repository / "large" / "1"
    sha256 = large_models.sha256_of
    assert sha256(stored / "weights-1.bin") == sha256(source / "weights-1.bin")
