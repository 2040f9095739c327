"""Keys across real processes: a key revoked through one `maas api` is refused by another within
about a second; a non-loopback bind without MAAS_AUTH refuses to start and says why; `maas keys`
bootstraps the first key into Redis and manages the rest through the API."""

import subprocess
import sys
import time

import httpx
import pytest

from batching.tenancy import tokens
from maas.cli.redis_server import free_port
from maas.core.access import Scope
from tests.support.processes import REPO_ROOT, MaasProcess, maas_env
from tests.support.tenants import bearer, keyed, make_key

REVOCATION_BOUND_S = 1.5  # key_cache_s (0.5 s) plus a loaded machine's scheduling


@pytest.fixture
def two_apis(settings, tmp_path):
    """Two `maas api` processes on one Redis, keys on."""
    started = []
    for i in range(2):
        process = MaasProcess("api", tmp_path / f"api{i}.log", keyed(settings, port=free_port()))
        started.append(process.start())
    try:
        yield [p.wait_ready() for p in started]
    finally:
        for process in started:
            process.stop()


async def test_a_key_revoked_through_one_api_is_refused_by_the_other_within_a_second(two_apis, redis):
    first, second = (f"http://127.0.0.1:{p.settings.port}" for p in two_apis)
    admin = bearer(await make_key(redis, "ops", frozenset({Scope.KEYS_ADMIN})))
    with httpx.Client(timeout=10) as client:
        created = client.post(
            f"{first}/v1/keys", json={"tenant": "acme", "scopes": ["models:read"]}, headers=admin
        )
        assert created.status_code == 201, created.text
        key = bearer(created.json()["key"])
        assert client.get(f"{second}/v1/models", headers=key).status_code == 200  # cached there now
        revoked = client.delete(f"{first}/v1/keys/{created.json()['id']}", headers=admin)
        assert revoked.status_code == 200
        at = time.monotonic()
        while client.get(f"{second}/v1/models", headers=key).status_code == 200:
            assert time.monotonic() - at < REVOCATION_BOUND_S, "still accepted by the other API"
            time.sleep(0.02)
        refused = client.get(f"{second}/v1/models", headers=key)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    logs = "".join(p.log_text() for p in two_apis)
    assert created.json()["key"].removeprefix(tokens.PREFIX).split("_", 1)[1] not in logs


@pytest.mark.parametrize("role", [["api"], ["serve"]])
def test_a_non_loopback_bind_without_maas_auth_refuses_to_start(role, settings, tmp_path):
    env = maas_env(settings.model_copy(update={"state_dir": tmp_path}))
    done = subprocess.run(
        [sys.executable, "-m", "maas", *role, "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 78, done.stderr.decode()
    stderr = done.stderr.decode()
    assert "refusing to serve on 0.0.0.0" in stderr and "MAAS_AUTH=keys" in stderr


def test_the_first_key_is_bootstrapped_and_the_cli_manages_keys_with_it(settings, tmp_path):
    api_settings = keyed(settings, port=free_port())
    env = maas_env(api_settings)
    url = ["--url", f"http://127.0.0.1:{api_settings.port}"]

    def maas(*args: str, key: str | None = None) -> subprocess.CompletedProcess:
        extra = {"MAAS_API_KEY": key} if key else {}
        command = [sys.executable, "-m", "maas", "keys", *args]
        return subprocess.run(command, env={**env, **extra}, cwd=REPO_ROOT, capture_output=True, timeout=60)

    first = maas("create", "--bootstrap", "--tenant", "ops", "--scopes", "keys:admin,models:read")
    assert first.returncode == 0, first.stderr.decode()
    admin = first.stdout.decode().strip()
    assert admin.startswith("maas_sk_")
    with MaasProcess("api", tmp_path / "api.log", api_settings):
        made = maas(
            "create", "--tenant", "acme", "--scopes", "jobs:read", "--expires", "30d", *url, key=admin
        )
        assert made.returncode == 0, made.stderr.decode()
        listed = maas("list", *url, key=admin).stdout.decode()
        assert "acme" in listed and "ops" in listed and admin not in listed
        key_id = made.stdout.decode().strip().split("_")[2]
        assert maas("revoke", key_id, *url, key=admin).returncode == 0
        refused = maas("list", *url, key=made.stdout.decode().strip())
        assert refused.returncode == 1 and "401" in refused.stderr.decode()  # errors go to stderr
        assert maas("list", *url).returncode == 1  # no key at all
