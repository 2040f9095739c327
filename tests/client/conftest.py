"""The client's tests run against real processes: a redis-server of the module's own (so a test
may stop and restart it), `maas api`, `maas worker` and, where wanted, `maas rq-worker`, started
once per module. Each test runs once with `Client` and once with `AsyncClient` (`kind`); `call`
awaits either's methods, running the blocking client's in a thread."""

import asyncio
import contextlib
import inspect
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import redis.asyncio as aioredis
from maas_client import AsyncClient, Client, RetryPolicy

from maas.cli.redis_server import RedisServer, free_port
from maas.core.access import ALL_SCOPES, DEFAULT_TENANT, Scope
from maas.core.settings import Settings
from tests.conftest import DIGITS
from tests.support.processes import MaasProcesses
from tests.support.tenants import DATA_SCOPES, keyed, make_key

WEBHOOK_SECRET = "whsec_" + "bWFhcy1jbGllbnQtdGVzdHMtd2ViaG9vay1zZWNyZXQ="  # 32 bytes
PATIENT = RetryPolicy(max_attempts=100, max_total_s=60, backoff_max_s=1)  # outlasts a restart
NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass
class Service:
    url: str
    settings: Settings
    redis: list[RedisServer]  # the first server, then any restarted on its port and data
    processes: MaasProcesses
    repo: Path
    keys: dict[str, str]  # API keys by role: "admin" (every scope), "data", "other" (another tenant)


async def make_keys(redis_url: str) -> dict[str, str]:
    redis = aioredis.from_url(redis_url)
    try:
        return {
            "admin": await make_key(redis, DEFAULT_TENANT, ALL_SCOPES),
            "data": await make_key(redis, DEFAULT_TENANT, DATA_SCOPES),
            "other": await make_key(redis, "other", frozenset({Scope.JOBS_READ, Scope.JOBS_WRITE})),
        }
    finally:
        await redis.aclose()


def digits_copy(repo: Path, name: str, config: str | None = None) -> None:
    shutil.copytree(DIGITS, repo / name / "1")
    if config is not None:
        (repo / name / "1" / "config.json").write_text(config)


@contextlib.contextmanager
def running_service(
    root: Path, repo: Path, worker_models: str, rq_worker: bool, keys: bool = False
) -> Iterator[Service]:
    """Redis (AOF fsynced on every write, so a restart keeps every job), the API, a worker for
    `worker_models` and, with `rq_worker`, the rq worker (webhooks, bulk splits); with `keys`,
    MAAS_AUTH=keys and keys made for the tests. All stopped at the end."""
    redis = [RedisServer(root / "redis", appendfsync="always")]
    redis[0].start()
    settings = Settings(
        redis_url=redis[0].url,
        model_repository=repo,
        state_dir=root / "state",
        port=free_port(),
        heartbeat_interval_s=0.2,
        drain_timeout_s=5,
        webhook_secrets=[WEBHOOK_SECRET],
        webhook_allow_http=True,
        webhook_allowed_networks=["127.0.0.0/8"],
    )
    settings = keyed(settings) if keys else settings
    try:
        made = asyncio.run(make_keys(settings.redis_url)) if keys else {}
        with MaasProcesses(settings, root) as processes:
            started = [processes.start("api"), processes.start("worker", "--models", worker_models)]
            if rq_worker:
                started.append(processes.start("rq-worker"))
            for process in started:  # started together, so their start-ups overlap
                process.wait_ready()
            yield Service(f"http://127.0.0.1:{settings.port}", settings, redis, processes, repo, made)
    finally:
        for server in redis:
            server.stop()


@pytest.fixture(params=["sync", "async"])
def kind(request) -> str:
    return request.param


def new_client(kind: str, url: str, **options) -> Client | AsyncClient:
    options.setdefault("api_key", "")  # never the developer's MAAS_API_KEY
    return Client(url, **options) if kind == "sync" else AsyncClient(url, **options)


async def close(client: Client | AsyncClient) -> None:
    if isinstance(client, AsyncClient):
        await client.aclose()
    else:
        client.close()


@pytest.fixture
async def client(kind, service):
    opened = new_client(kind, service.url, retry=PATIENT, api_key=service.keys.get("admin", ""))
    yield opened
    await close(opened)


async def call(method, *args, **kwargs):
    """Awaits an AsyncClient method; runs a Client one in a thread (the loop stays free)."""
    if inspect.iscoroutinefunction(method):
        return await method(*args, **kwargs)
    return await asyncio.to_thread(method, *args, **kwargs)


def background(method, *args, **kwargs) -> asyncio.Future:
    return asyncio.ensure_future(call(method, *args, **kwargs))


def onnxruntime_outputs(model_file: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model run directly, for comparison."""
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs), strict=True))


def digits_rows(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 17, (count, 64)).astype(np.float32)
