"""The hot paths (api/hot_path.py) answer as the full stack does: one matrix of requests (good
ones, each kind of bad input, auth failures, a rate-limited key, oversized bodies, unknown
models, a wrong content type or Origin; tests/api/hot_path_cases.py) sent over real HTTP to the
app with and without them gets the same statuses, headers and bodies, counts the same request
metrics and gives the logs the same request id; so do a service that raises, dependency
overrides and FastAPI's own telemetry. Each side's router counts what it routed, so the hot
requests are shown to be the hot paths' own (else the comparison would prove nothing)."""

import contextlib
import re
from collections import Counter
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.exceptions import ConnectionError as RedisConnectionError

from api import deps
from api.app import create_app
from batching.metrics import HTTP_REQUESTS
from batching.tenancy.store import KeySpec, KeyStore
from maas.core.access import ALL_SCOPES, Scope
from maas.core.errors import GoneError, QueueFullError
from maas.core.log_fields import REQUEST_ID
from tests.api.hot_path_cases import CASES, GOOD, SUBMIT, Case
from tests.support.asgi_server import Routed, serving
from tests.support.tenants import SECRET, keyed

JOB_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}-[0-9a-z]{1,4}")
NEW_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
RETRY_IN = re.compile(r"retry in \d+ s")
UNTIL_TOKEN = (b"ratelimit-reset", b"retry-after")  # whole seconds from the request's own time
VARYING = frozenset({"created_at", "started_at", "finished_at", "timings", "batch_size"})  # as the job ran


@pytest.fixture
def settings(settings):
    return keyed(settings, key_rate="0")


@dataclass
class Side:
    """One app, served over HTTP, and what its cases name: its keys, its job, its origin."""

    app: FastAPI
    client: httpx.AsyncClient
    names: dict[str, str]
    seen: list[str | None] = field(default_factory=list)  # the logs' request id, as auth saw it
    routed: Routed | None = None  # what its router saw

    def watch(self) -> None:
        self.routed = Routed(self.app)
        auth = self.app.state.services.auth
        authorize = auth.authorize

        async def watched(request, scope):
            self.seen.append(REQUEST_ID.get())
            return await authorize(request, scope)

        auth.authorize = watched


async def key(redis, tenant: str, scopes=ALL_SCOPES, **limits) -> str:
    _, token = await KeyStore(redis, SECRET.encode()).create(
        KeySpec(tenant, "caller", frozenset(scopes), **limits)
    )
    return token


@contextlib.asynccontextmanager
async def side(settings, redis, hot_paths: bool):
    app = create_app(settings, hot_paths=hot_paths)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        tenant = "hot" if hot_paths else "full"  # each side's own jobs and rate buckets
        reader = {Scope.JOBS_READ, Scope.MODELS_READ}
        names = {
            "writer": await key(redis, tenant),
            "reader": await key(redis, tenant, reader),
            "limited": await key(redis, tenant, rate="1/h"),
            "idem": f"idem-{tenant}",
            "origin": url,
        }
        names["job"] = (await client.post("/v1/jobs", content=GOOD, headers=filled(SUBMIT, names))).json()[
            "id"
        ]
        found = Side(app, client, names)
        found.watch()
        yield found


def filled(headers: dict[str, str], names: dict[str, str]) -> dict[str, str]:
    return {name: value.format(**names) for name, value in headers.items()}


def plain(value):
    """A body with what differs between any two jobs (ids, times) named instead of shown, and
    the seconds until a rate-limited key's next token (they count from each side's request)."""
    if isinstance(value, dict):
        return {k: "<varies>" if k in VARYING and v is not None else plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return RETRY_IN.sub("retry in <s> s", JOB_ID.sub("<job>", value)) if isinstance(value, str) else value


def answer_of(response: httpx.Response, sent_id: str | None, origin: str) -> tuple:
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if response.request.method != "HEAD":
        assert int(response.headers.get("content-length", len(response.content))) == len(response.content)
    headers = []
    for name, value in response.headers.raw:
        text = value.decode()
        if name.lower() == b"x-request-id" and text != sent_id:
            text = "<new>" if NEW_REQUEST_ID.fullmatch(text) else text
        elif name.lower() == b"content-length" and is_json:
            text = "<length>"  # times of different lengths
        elif name.lower() in UNTIL_TOKEN and "ratelimit-limit" in response.headers:
            text = "<s>" if text.isdigit() else text
        if name.lower() != b"date":
            headers.append((name.decode(), JOB_ID.sub("<job>", text.replace(origin, "<origin>"))))
    body = plain(orjson.loads(response.content)) if is_json and response.content else response.content
    return response.status_code, headers, body


def counted() -> Counter:
    return Counter(
        {
            tuple(s.labels.values()): s.value
            for m in HTTP_REQUESTS.collect()
            for s in m.samples
            if s.name.endswith("_total")
        }
    )


async def exchange(on: Side, case: Case) -> tuple:
    """What one side answers to the case, what it counted and routed, and what auth saw."""
    assert on.routed is not None
    before, routed = counted(), on.routed.count
    on.seen.clear()
    headers = filled(case.headers, on.names)
    content = case.body() if callable(case.body) else case.body
    response = await on.client.request(
        case.method, case.path.format(**on.names), headers=headers, content=content
    )
    assert response.status_code == case.status, f"{case.name}: {response.status_code} {response.text[:300]}"
    if "x-request-id" in response.headers:  # not on the server's own 500
        ids = {response.headers["x-request-id"]} if on.seen else set()
        assert set(on.seen) == ids, f"{case.name}: the logs' request id {on.seen} is not the answer's {ids}"
    counts = counted()
    counts.subtract(before)
    return (
        answer_of(response, headers.get("X-Request-ID"), on.names["origin"]),
        +counts,
        on.routed.count - routed,
    )


async def test_every_request_is_answered_alike_with_and_without_hot_paths(settings, redis, worker):
    async with side(settings, redis, False) as full, side(settings, redis, True) as hot:
        for case in CASES:
            full_answer, full_counts, full_routed = await exchange(full, case)
            hot_answer, hot_counts, hot_routed = await exchange(hot, case)
            assert hot_answer == full_answer, case.name
            assert hot_counts == full_counts and sum(full_counts.values()) == 1, case.name
            assert full_routed == 1 and hot_routed == (0 if case.hot else 1), case.name


class RaisingSubmit:
    """A job service's submit that raises `error`, having noted the logs' request id."""

    def __init__(self, error: Exception):
        self.error = error
        self.seen: list[str | None] = []

    async def __call__(self, *args, **kwargs):
        self.seen.append(REQUEST_ID.get())
        raise self.error


async def submitted(on: Side, case: Case, caplog) -> tuple:
    """The side's exchange for one submit, and what was logged meanwhile."""
    caplog.clear()
    answer = await exchange(on, case)
    return answer, [(r.name, r.getMessage(), r.exc_info and type(r.exc_info[1])) for r in caplog.records]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RuntimeError("a bug"), 500),
        (RedisConnectionError("refused"), 503),
        (QueueFullError("lane full"), 429),
    ],
)
async def test_a_service_that_raises_is_answered_counted_and_logged_alike(
    settings, redis, caplog, error, status
):
    answers = []
    for hot_paths in (False, True):
        async with side(settings, redis, hot_paths) as on:
            raising = on.app.state.services.jobs.submit = RaisingSubmit(error)
            case = Case("submit", "POST", "/v1/jobs", status, SUBMIT, GOOD, hot=hot_paths)
            answers.append(await submitted(on, case, caplog))
            assert len(raising.seen) == 1 and NEW_REQUEST_ID.fullmatch(raising.seen[0] or "")
    ((full, full_counts, _), full_logged), ((hot, hot_counts, hot_routed), hot_logged) = answers
    assert hot == full and hot_counts == full_counts and hot_logged == full_logged and hot_routed == 0
    if status == 500:  # ServerErrorMiddleware's own answer, and uvicorn's log of the exception
        assert full[2] == b"Internal Server Error"
        assert ("uvicorn.error", "Exception in ASGI application\n", RuntimeError) in full_logged


class Refusing:
    """A job service, put in by a dependency override, that refuses every submit."""

    async def submit(self, *args, **kwargs):
        raise GoneError("overridden")


async def test_dependency_overrides_are_honoured(settings, redis, caplog):
    answers = []
    for hot_paths in (False, True):
        async with side(settings, redis, hot_paths) as on:
            on.app.dependency_overrides[deps._jobs] = Refusing
            answers.append(await submitted(on, Case("submit", "POST", "/v1/jobs", 410, SUBMIT, GOOD), caplog))
    ((full, full_counts, _), _), ((hot, hot_counts, hot_routed), _) = answers
    assert hot == full and hot_counts == full_counts
    assert hot_routed == 1  # FastAPI's own solve, through the full stack


async def test_with_fastapi_s_telemetry_on_the_full_stack_answers_and_traces(settings, redis):
    spans = []
    for hot_paths in (False, True):
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        async with side(settings, redis, hot_paths) as on:
            on.app._telemetry["tracer_provider"] = provider  # as FastAPI(telemetry=...) would
            _, _, routed = await exchange(on, Case("submit", "POST", "/v1/jobs", 202, SUBMIT, GOOD))
            assert routed == 1
        server_spans = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
        spans.append([(s.name, dict(s.attributes or {})) for s in server_spans])
    for found in spans:
        for _, attributes in found:
            attributes.pop("server.port", None)  # each side's own
    assert spans[0] == spans[1] and spans[0][0][1]["http.route"] == "/v1/jobs"


def test_the_openapi_document_is_the_same(settings):
    documents = [orjson.dumps(create_app(settings, hot_paths=h).openapi()) for h in (False, True)]
    assert documents[0] == documents[1]
