"""The OpenAPI document tells the truth: schemathesis, the schema fuzzer, runs every phase
(examples, coverage, fuzzing, and stateful through the document's response links) with every
check against real `maas api`, worker and rq-worker processes on a real Redis. It fails on a
5xx, on a request the document allows that the server refuses (or the reverse), on an answer
that does not match its schema or an undocumented status, and on a 405 without an exact
`Allow`. Examples are bounded and the seed fixed (tests/api/schemathesis.toml)."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.support.processes import maas_env

CONFIG = Path(__file__).with_name("schemathesis.toml")
ST = Path(sys.executable).with_name("st")  # schemathesis's command, installed with the test extra
BUDGET_S = 100  # the run's own limit (st --max-time), well inside the test's timeout


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.2,
        port=free_port(),
    )


@pytest.mark.timeout(240)
async def test_the_document_holds_against_the_server(processes, settings, redis, tmp_path):
    await asyncio.gather(*(processes.ready(role) for role in ("api", "worker", "rq-worker")))
    command = [
        str(ST),
        "--config-file",
        str(CONFIG),
        "run",
        f"http://127.0.0.1:{settings.port}/openapi.json",
        "--max-time",
        str(BUDGET_S),
        "--no-color",
    ]
    run = subprocess.run
    done = await asyncio.to_thread(
        # In tmp_path: schemathesis keeps a cache of crashes in its working directory.
        run,
        command,
        cwd=tmp_path,
        env=maas_env(None),
        capture_output=True,
        text=True,
        timeout=BUDGET_S + 60,
    )
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-2000:]
