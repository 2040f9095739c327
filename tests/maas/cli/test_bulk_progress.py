"""`maas bulk`'s progress bar shows the job's real rate when it ends, even a job that ended
between two polls; `maas bulk status` answers on stdout."""

import re

import numpy as np
from rich.progress import Progress

from maas.cli.bulk import RowsPerSecond, final_rate
from tests.maas.cli import test_bulk_cli
from tests.support.bulk_helpers import jsonl

settings = test_bulk_cli.settings  # the same real `maas api` and rq-worker processes
api_process = test_bulk_cli.api_process


def test_the_final_rate_is_rows_over_the_jobs_own_run_time():
    job = {
        "started_at": "2026-11-29T10:00:00.000000Z",
        "finished_at": "2026-11-29T10:00:00.250000Z",
        "counts": {"total": 500, "succeeded": 498, "failed": 2},
    }
    assert final_rate(job) == 2000.0
    assert final_rate({**job, "finished_at": None}) is None
    with Progress() as progress:  # a task that never moved between polls has no estimate
        task = progress.add_task("succeeded", total=500, completed=500, final_rate=final_rate(job))
        assert str(RowsPerSecond().render(progress.tasks[task])) == "2,000 rows/s"


async def test_a_fast_job_ends_with_a_real_rate_and_status_answers_on_stdout(api_process, worker, tmp_path):
    rows = np.random.default_rng(3).integers(0, 17, (300, 64)).astype(np.float32)
    source = tmp_path / "rows.jsonl"
    source.write_bytes(jsonl([{"id": f"x{i}", "inputs": [row]} for i, row in enumerate(rows)]))
    args = ("--model", "digits", "--wait", "-o", str(tmp_path / "out.jsonl"), "--url", api_process)
    done = await test_bulk_cli.maas("submit", str(source), *args)
    assert done.returncode == 0, done.stderr
    rates = [int(r.replace(",", "")) for r in re.findall(r"([\d,]+) rows/s", done.stderr)]
    assert rates and rates[-1] > 0, done.stderr
    status = await test_bulk_cli.maas("status", done.stdout.strip(), "--url", api_process)
    assert status.returncode == 0 and "succeeded" in status.stdout and "rows 300" in status.stdout
    assert status.stderr == ""
