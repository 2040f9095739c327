"""A new user's first hour, with real processes: the README's management examples leave the
checkout's `models/` untouched, and Ctrl-C stops `maas serve` quietly."""

import shutil
import time

import httpx
import pytest
from sklearn.datasets import load_digits

from tests.conftest import DIGITS
from tests.system.first_hour import ServeInDirectory, run_cli, tree_digest


@pytest.fixture
def checkout(tmp_path):
    """A directory laid out as a clone is, as far as `maas serve` looks: a `models/` folder."""
    shutil.copytree(DIGITS, tmp_path / "models" / "digits" / "1")
    return tmp_path


def test_pushing_a_version_serves_it_from_the_state_dir_and_leaves_models_unchanged(checkout):
    before = tree_digest(checkout / "models")
    with ServeInDirectory(checkout) as serve:
        pushed = run_cli(
            "models", "push", "digits", str(DIGITS / "model.onnx"), "--alias", "stable",
            "--url", serve.url, cwd=checkout,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        assert "digits version 2 created" in pushed.stdout
        retired = run_cli("models", "retire", "digits", "1", "--url", serve.url, cwd=checkout)
        assert retired.returncode == 0, retired.stdout + retired.stderr
        rows = load_digits().data[:2].tolist()
        job = httpx.post(
            f"{serve.url}/v1/jobs",
            json={"model": "digits", "version": "stable", "inputs": rows},
            headers={"Prefer": "wait=20"},
            timeout=30,
        ).json()
    assert job["status"] == "succeeded" and job["version"] == 2, job
    assert tree_digest(checkout / "models") == before  # not a byte of the checkout changed
    served = checkout / ".maas" / "models" / "digits"
    assert (served / "2" / "model.onnx").exists()  # the alias (job on "stable" ran v2) is in Redis
    assert (served / "1" / "retired.json").exists()


def test_a_given_model_repository_is_served_and_changed_in_place(checkout, tmp_path):
    repository = checkout / "models"
    with ServeInDirectory(checkout, ("--model-repository", str(repository))) as serve:
        pushed = run_cli(
            "models", "push", "digits", str(DIGITS / "model.onnx"), "--url", serve.url, cwd=checkout
        )
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert (repository / "digits" / "2" / "model.onnx").exists()
    assert not (checkout / ".maas" / "models").exists()


def test_ctrl_c_stops_serve_and_all_its_processes_quietly(checkout):
    serve = ServeInDirectory(checkout)
    try:
        serve.wait_ready()
        started = time.monotonic()
        assert serve.ctrl_c(timeout_s=40) == 0
        assert time.monotonic() - started < 40
    finally:
        serve.kill()
    output = serve.output()
    assert "Traceback" not in output and "CancelledError" not in output, output[-6000:]
    assert "Error 111" not in output  # no process outlived Redis (it is stopped last)


def test_the_readme_cancel_example_cancels_a_job_that_waits_for_its_batch(checkout, tmp_path):
    slow = tmp_path / "slow.json"
    slow.write_text('{"max_queue_delay_ms": 8000}')
    with ServeInDirectory(checkout) as serve:
        pushed = run_cli(
            "models", "push", "digits", str(DIGITS / "model.onnx"), "--config", str(slow),
            "--url", serve.url, cwd=checkout,
        )  # fmt: skip
        assert "digits version 2 created" in pushed.stdout, pushed.stdout + pushed.stderr
        config = httpx.get(f"{serve.url}/v1/models/digits/versions/2").json()["config"]
        assert config["max_queue_delay_ms"] == 8000 and config["max_batch_size"] == 64
        rows = load_digits().data[:1].tolist()
        job = httpx.post(f"{serve.url}/v1/jobs", json={"model": "digits", "version": 2, "inputs": rows})
        assert job.status_code == 202
        cancelled = httpx.delete(f"{serve.url}/v1/jobs/{job.json()['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
