"""Webhooks tried locally in one step: `maas webhooks listen` prints what `maas serve` needs, then
verifies and prints a real delivery."""

import subprocess
import sys
import time

import httpx
from sklearn.datasets import load_digits

from maas.cli.redis_server import free_port
from maas.cli.webhooks import new_secret
from tests.system.first_hour import ServeInDirectory, maas_command_env
from tests.system.test_first_hour import checkout  # noqa: F401 (a fixture)


def wait_for_text(path, text: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in (found := path.read_text()):
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in:\n{path.read_text()}")


def test_listen_verifies_and_prints_a_delivery_from_serve(checkout, tmp_path):  # noqa: F811
    port, secret, printed = free_port(), new_secret(), tmp_path / "listen.out"
    with printed.open("wb") as out:
        listener = subprocess.Popen(
            [sys.executable, "-m", "maas", "webhooks", "listen", "--port", str(port), "--secret", secret],
            env=maas_command_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        told = wait_for_text(printed, "maas serve")
        settings_line = next(line for line in told.splitlines() if "MAAS_WEBHOOK_SECRETS" in line)
        env = dict(part.split("=", 1) for part in settings_line.split()[:-2])
        env = {k: v.strip("'") for k, v in env.items()}
        with ServeInDirectory(checkout, env=env) as serve:
            assert "maas webhooks listen" in serve.output()
            job = httpx.post(
                f"{serve.url}/v1/jobs",
                json={"model": "digits", "inputs": load_digits().data[:1].tolist(),
                      "webhook": {"url": f"http://127.0.0.1:{port}/"}},
            ).json()  # fmt: skip
            delivered = wait_for_text(printed, f"verified msg_{job['id']}")
    finally:
        listener.terminate()
        listener.wait(10)
    assert '"status": "succeeded"' in delivered.split(f"verified msg_{job['id']}")[1]
