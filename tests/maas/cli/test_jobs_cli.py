"""`maas jobs ...` against real `maas api` (and `maas worker`) processes: in-process through
click's runner (a `maas` process pays seconds of imports per command on a loaded machine), and
once as the `maas` process a shell runs. Human output on stdout, messages on stderr, `--json`
the API's JSON, and the exit code of each failure class (maas/cli/http.py)."""

import asyncio
import subprocess
import sys

import orjson
import pytest
from click.testing import Result
from typer.testing import CliRunner

from maas.cli.http import EXIT_JOB_FAILED, EXIT_REFUSED, EXIT_STILL_RUNNING, EXIT_UNREACHABLE
from maas.cli.jobs import jobs_app
from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.conftest import REPO_ROOT
from tests.support.processes import maas_env

# The README's "0": one row of the demo model's 64 pixels (8 x 8, values 0-16).
ZERO = "0 0 5 13 9 1 0 0 0 0 13 15 10 15 5 0 0 3 15 2 0 11 8 0 0 4 12 0 0 8 8 0 0 5 8 0 0 9 8 0 0 4 11 0"
ZERO = [int(v) for v in (ZERO + " 1 12 7 0 0 2 14 5 10 12 0 0 0 0 6 13 10 0 0 0").split()]


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.2,
        port=free_port(),
    )


@pytest.fixture
async def api_url(processes, settings, redis):
    await processes.ready("api")
    return f"http://127.0.0.1:{settings.port}"


def cli(*args: str, stdin: str | None = None) -> Result:
    """`maas jobs ...` in this process (the API and the worker are processes of their own)."""
    return CliRunner().invoke(jobs_app, list(args), input=stdin, env={"COLUMNS": "200"})


async def maas(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`maas jobs ...` in a process of its own, run to its end off the event loop."""
    command = [sys.executable, "-m", "maas", "jobs", *args]
    run = subprocess.run
    kwargs = {"cwd": REPO_ROOT, "env": maas_env(None), "capture_output": True, "text": True, "timeout": 60}
    return await asyncio.to_thread(run, command, input=stdin, **kwargs)


async def test_submit_wait_get_and_list_against_a_worker(api_url, processes, tmp_path):
    await processes.ready("worker")
    inline = cli("submit", "--model", "digits", "--wait", orjson.dumps([ZERO]).decode(), "--url", api_url)
    assert inline.exit_code == 0, inline.stderr
    assert "succeeded  digits v" in inline.stdout and "probabilities [1, 10] float32" in inline.stdout

    rows = tmp_path / "rows.json"
    rows.write_bytes(orjson.dumps({"pixels": [ZERO, ZERO]}))
    args = ("--model", "digits", "--version", "1", "--metadata", '{"run": 7}', "--url", api_url)
    from_file = cli("submit", str(rows), "--wait", "--json", *args)
    assert from_file.exit_code == 0, from_file.stderr
    job = orjson.loads(from_file.stdout)  # stdout holds the JSON alone
    assert job["status"] == "succeeded" and job["version"] == 1 and job["metadata"] == {"run": 7}
    assert len(job["outputs"]["probabilities"]) == 2

    # As a shell runs it: inputs on stdin, the id alone on stdout (`id=$(maas jobs submit ...)`).
    queued = await maas(
        "submit", "--model", "digits", "-", "--url", api_url, stdin=orjson.dumps([ZERO]).decode()
    )
    assert queued.returncode == 0 and queued.stderr.startswith("job "), queued.stderr
    job_id = queued.stdout.strip()
    waited = cli("wait", job_id, "--json", "--timeout", "30", "--url", api_url)
    assert waited.exit_code == 0 and orjson.loads(waited.stdout)["id"] == job_id, waited.stderr
    got = cli("get", job_id, "--url", api_url)
    assert got.exit_code == 0 and f"{job_id}  succeeded" in got.stdout and got.stderr == "", got.stderr
    listed = cli("list", "--json", "--url", api_url)
    assert listed.exit_code == 0, listed.stderr
    assert job_id in [j["id"] for j in orjson.loads(listed.stdout)["data"]]


async def test_cancel_timeouts_and_refusals_exit_with_their_class(api_url):
    # No worker: the job stays queued, so it can be cancelled and a wait for it runs out.
    queued = cli("submit", "--model", "digits", orjson.dumps([ZERO]).decode(), "--url", api_url)
    job_id = queued.stdout.strip()
    late = cli("wait", job_id, "--timeout", "0.5", "--url", api_url)
    assert late.exit_code == EXIT_STILL_RUNNING and f"maas jobs wait {job_id}" in late.stderr, late.stderr
    invalid = cli("submit", "--model", "digits", "--wait", "--timeout", "0.5", "[[1]]", "--url", api_url)
    assert invalid.exit_code == EXIT_REFUSED and "422" in invalid.stderr and "inputs" in invalid.stderr

    cancelled = cli("cancel", job_id, "--json", "--url", api_url)
    assert cancelled.exit_code == 0 and orjson.loads(cancelled.stdout)["status"] == "cancelled"
    again = cli("cancel", job_id, "--url", api_url)
    assert again.exit_code == EXIT_REFUSED and "409" in again.stderr and again.stdout == ""
    ended = cli("wait", job_id, "--url", api_url)
    assert ended.exit_code == EXIT_JOB_FAILED and "cancelled" in ended.stdout

    missing = cli("get", "01NOSUCHJOB0000000000000000", "--url", api_url)
    assert missing.exit_code == EXIT_REFUSED and "404" in missing.stderr
    bad = cli("submit", "--model", "digits", "not-a-file.json", "--url", api_url)
    assert bad.exit_code == 2 and "not a file" in bad.stderr  # click's usage error
    nowhere = cli("get", job_id, "--url", f"http://127.0.0.1:{free_port()}")
    assert nowhere.exit_code == EXIT_UNREACHABLE and "cannot reach the API" in nowhere.stderr
