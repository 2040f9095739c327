"""The client distribution stands alone: importing it loads none of the server's stack, it adds
one top-level name, and its retry rule holds (a pure value, tested without a server)."""

import subprocess
import sys
from pathlib import Path

import pytest
from maas_client import RetryPolicy

SERVER_STACK = ["fastapi", "starlette", "redis", "rq", "onnxruntime", "ai_edge_litert", "tensorflow"]
OURS = ["maas", "api", "worker", "batching", "export"]
CLIENT_ROOT = Path(__file__).resolve().parents[2] / "client"


def test_maas_client_imports_without_the_server_stack():
    check = (
        "import sys, maas_client, maas_client.webhooks; "
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVER_STACK + OURS!r})); "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_distribution_adds_one_top_level_name():
    packages = [p.name for p in CLIENT_ROOT.iterdir() if (p / "__init__.py").is_file()]
    assert packages == ["maas_client"]
    assert 'include = ["maas_client*"]' in (CLIENT_ROOT / "pyproject.toml").read_text()


def test_retries_wait_at_least_retry_after_and_stop_at_the_attempt_or_time_bound():
    policy = RetryPolicy(max_attempts=3, max_total_s=10, backoff_s=0.5, backoff_max_s=4)
    assert policy.delay_s(1, 0.0, retry_after_s=2.0) == 2.0  # never sooner than the server asks
    assert policy.delay_s(2, 0.0, retry_after_s=None) == 1.0  # else 0.5 s doubled per attempt
    assert policy.delay_s(2, 0.0, retry_after_s=None, jitter=0.5) == 0.5
    assert policy.delay_s(3, 0.0, retry_after_s=None) is None  # out of attempts
    assert policy.delay_s(1, 9.0, retry_after_s=2.0) is None  # would pass max_total_s
    assert RetryPolicy(backoff_s=1, backoff_max_s=3).backoff(5) == 3
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
