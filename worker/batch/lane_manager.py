"""Keeps a worker's lanes in step with the model repository, without a restart.

It rescans the repository when the API announces a change (and every `model_rescan_s`, for a
notice missed or a file dropped in by hand), and every DEMAND_POLL_S reads the depth of each lane
it knows. A version is loaded and warmed up before its lane is served: at start and when it
appears (preload, within the memory budget), or when its first job arrives. A config change
restarts the lane's loop with the new policy, on a new runtime if the runtime options changed.
A retired version is served until its lane is empty, then unloaded. Past the memory budget, the
least recently used idle version is unloaded to make room. Before its first load a version's load
and warm-up are rehearsed in a child process held to the budget: one that would exceed it (or
crash its runtime) is refused, its state `failed` with the reason, and never enters this process.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from batching import keys, model_events
from batching.connection import publish_command
from batching.jobs.store import JobStore
from batching.metrics import MODEL_LOAD_SECONDS, MODEL_LOADS, MODEL_UNLOADS
from batching.tenant_limits import fair_share
from maas.core.errors import MaasError, ModelLoadError
from maas.core.log_fields import fields
from maas.core.sealing import Sealer, announce
from maas.core.settings import Settings
from maas.models.registry import ModelRepository, ModelVersion
from worker.batch.lane_loop import LaneLoop, Reliability
from worker.batch.memory import LoadMeter, LoadRehearsals, memory_budget_bytes, version_bytes
from worker.runtimes.base import Runtime
from worker.runtimes.catalog import load_runtime, placement_of

log = logging.getLogger(__name__)
DEMAND_POLL_S = 0.2
BATCHING_FIELDS = {"max_batch_size", "max_queue_delay_ms", "max_queue_rows", "preferred_batch_sizes"}
Key = tuple[str, int]


@dataclass
class Served:
    model: ModelVersion
    runtime: Runtime
    loop: LaneLoop
    stopping: asyncio.Event
    task: asyncio.Task
    memory_bytes: int
    last_busy: float
    depth: int = 0  # online rows and bulk chunks waiting in its lanes at the last poll


def label(key: Key) -> str:
    return f"{key[0]}:{key[1]}"


def needs_new_runtime(old: ModelVersion, new: ModelVersion) -> bool:
    def runtime_part(model: ModelVersion) -> dict:
        return model.config.model_dump(exclude=BATCHING_FIELDS)

    return old.path != new.path or old.runtime != new.runtime or runtime_part(old) != runtime_part(new)


class LaneManager:
    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis,
        registry: ModelRepository,
        worker_id: str,
        on_change: Callable[[], None] = lambda: None,
    ):
        self.settings = settings
        self.redis = redis
        self.registry = registry
        self.worker_id = worker_id
        sealer = Sealer.from_setting(settings.data_keys)
        announce(sealer, "worker")
        self.store = JobStore(redis, settings.result_ttl_s, sealer, publish=publish_command(settings))
        self.reliability = Reliability(settings.visibility_timeout_s, settings.max_deliveries)
        self.fair_share = fair_share(settings)
        self.states: dict[str, dict] = {}  # "name:version" -> {state, error}, for the heartbeat
        self.served: dict[Key, Served] = {}
        self.known: dict[Key, ModelVersion] = {}
        self.failed: dict[Key, ModelVersion] = {}  # retried only once the version's files change
        self.changed = asyncio.Event()
        self.on_change = on_change
        # A GPU worker budgets the device memory its versions take, a CPU worker its own RSS.
        self.meter = LoadMeter.for_device(settings.device)
        self._budget = (
            int(settings.gpu_memory_budget_mb * 2**20)
            if self.meter.on_gpu
            else memory_budget_bytes(settings.worker_memory_budget_mb)
        )
        self.rehearsals = LoadRehearsals(
            self._budget, settings.worker_load_rehearsal_timeout_s, settings.device
        )
        log.info("memory budget for loaded models: %.0f MiB (0: none)", self._budget / 2**20)

    async def start(self) -> None:
        """The first scan and preload, before the worker announces itself."""
        await self.rescan()

    async def run(self, stopping: asyncio.Event) -> None:
        listening = asyncio.create_task(self._listen())
        last_scan = time.monotonic()
        try:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(DEMAND_POLL_S):  # not wait_for: see heartbeat.py
                        await self.changed.wait()
                if self.changed.is_set() or time.monotonic() - last_scan > self.settings.model_rescan_s:
                    self.changed.clear()
                    last_scan = time.monotonic()
                    await self.rescan()
                await self._follow_demand()
        finally:
            listening.cancel()
            await asyncio.gather(*(self._stop(key) for key in list(self.served)))

    async def _listen(self) -> None:
        """Sets `changed` on every repository notice; reconnects after Redis errors."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(keys.MODEL_CHANGES_CHANNEL)
                    self.changed.set()  # anything missed while not subscribed
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            log.info("repository changed: %s", model_events.parse(message["data"]))
                            self.changed.set()
            except (RedisError, OSError) as e:
                log.warning("model change notices interrupted: %r", e)
                await asyncio.sleep(1)

    def _scan(self) -> dict[Key, ModelVersion]:
        found = {}
        for name in self.settings.worker_models or self.registry.names(include_retired=True):
            for version in self.registry.versions(name, include_retired=True):
                try:
                    found[(name, version)] = self.registry.get_uncached(name, version, include_retired=True)
                except ModelLoadError as e:
                    self._set_state((name, version), "failed", e.message)
        return found

    async def rescan(self) -> None:
        self.known = await asyncio.to_thread(self._scan)
        for key in list(self.served):
            await self._follow_change(key)
        if self.settings.worker_preload:
            newest_first = sorted(self.known, key=lambda k: (k[0], -k[1]))
            candidates = [k for k in newest_first if not self.known[k].retired and self._loadable(k)]
            await self.rehearsals.prepare([self.known[k] for k in candidates])
            for key in newest_first:
                model = self.known[key]
                if key not in self.served and not model.retired and self._loadable(key):
                    await self._load(key, preload=True)

    async def _follow_change(self, key: Key) -> None:
        served, model = self.served[key], self.known.get(key)
        if model is None:
            log.info("%s left the repository; unloading it", label(key))
            await self._stop(key)
        elif model != served.model and self.failed.get(key) != model:
            log.info("%s changed; applying %s", label(key), model.config.model_dump())
            runtime = served.runtime
            if needs_new_runtime(served.model, model):
                new_runtime = await self._new_runtime(key, model)
                if new_runtime is None:  # the old runtime keeps serving
                    error = self.states[label(key)]["error"]
                    self._set_state(key, "ready", f"new config not applied: {error}")
                    return
                runtime = new_runtime
            await self._restart(key, model, runtime)

    async def _follow_demand(self) -> None:
        """Loads versions whose lanes (online or bulk) have work, notes which are busy, unloads
        drained retired versions."""
        candidates = sorted(set(self.known) | set(self.served))
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for name, version in candidates:
                    pipe.get(keys.lane_rows(keys.online_lane(name, version)))
                    pipe.xlen(keys.bulk_lane(name, version))  # chunks are deleted once done
                answers = await pipe.execute()
            pairs = zip(answers[::2], answers[1::2], strict=True)
            depths = [int(rows or 0) + chunks for rows, chunks in pairs]
        except RedisError as e:
            log.warning("could not read lane depths: %r", e)
            return
        now = time.monotonic()
        for key, depth in zip(candidates, depths, strict=True):
            served = self.served.get(key)
            if served is not None:
                served.depth = depth
            if served is not None and depth > 0:
                served.last_busy = now
            elif served is not None and served.model.retired and depth == 0:
                log.info("%s is retired and its lane is empty; unloading it", label(key))
                await self._stop(key)
            elif served is None and depth > 0 and self._loadable(key):
                await self._load(key, preload=False)

    async def _new_runtime(self, key: Key, model: ModelVersion) -> Runtime | None:
        self._set_state(key, "loading")
        labels = (key[0], str(key[1]))
        started = time.perf_counter()
        try:
            refusal = (await self.rehearsals.rehearse(model)).refusal
            if refusal is not None:  # never loaded here: it would exceed the budget, or crash
                raise ModelLoadError(refusal)
            runtime = await asyncio.to_thread(
                load_runtime,
                *(model, self.settings.device, self.settings.allow_plugin_runtimes),
                self.settings.state_dir,
            )
        except Exception as e:  # a model that cannot load must not take the worker down
            message = e.message if isinstance(e, MaasError) else repr(e)
            log.error("cannot load %s: %s", label(key), message, extra=fields(model=key[0], version=key[1]))
            self.failed[key] = model
            self._set_state(key, "failed", message)
            MODEL_LOADS.labels(*labels, "failed").inc()
            return None
        self.failed.pop(key, None)
        elapsed_s = time.perf_counter() - started
        MODEL_LOADS.labels(*labels, "ok").inc()
        MODEL_LOAD_SECONDS.labels(*labels).observe(elapsed_s)
        log.info(
            "loaded %s", label(key), extra=fields(model=key[0], version=key[1], duration_ms=elapsed_s * 1000)
        )
        return runtime

    async def _load(self, key: Key, preload: bool) -> None:
        """Rehearses, loads and warms up a version, then serves its lane."""
        model = self.known[key]
        self._set_state(key, "loading")  # from the rehearsal on: a large version takes seconds
        rehearsal = await self.rehearsals.rehearse(model)  # kept: _new_runtime asks again for free
        estimate = max(version_bytes(model), rehearsal.needed_bytes)
        if preload and self._budget and self._used() + estimate > self._budget:
            self.states.pop(label(key), None)
            self.on_change()
            return  # preloading never unloads another model; a job will load this one
        await self._make_room(estimate, key)
        before, started = self.meter.used_bytes(), time.monotonic()
        runtime = await self._new_runtime(key, model)
        if runtime is None:
            return
        took_s, added = time.monotonic() - started, self.meter.used_bytes() - before
        memory = max(estimate, added)
        self._start(key, model, runtime, memory)
        log.info(
            "serving %s: loaded and warmed up in %.2f s, resident memory +%.1f MiB (charged %.1f MiB)",
            *(label(key), took_s, added / 2**20, memory / 2**20),
        )

    async def _make_room(self, needed: int, loading: Key) -> bool:
        """Unloads idle versions, least recently busy first, until `needed` bytes fit the budget.
        False when they cannot: then a job's version loads anyway (jobs never starve), a preload
        does not."""
        if not self._budget:
            return True
        while self._used() + needed > self._budget:
            idle = [(s.last_busy, key) for key, s in self.served.items() if key != loading and not s.depth]
            if not idle:
                log.warning("memory budget exceeded loading %s; nothing idle to unload", label(loading))
                return False
            _, evicted = min(idle)
            log.info("unloading idle %s to stay within the memory budget", label(evicted))
            await self._stop(evicted)
        return True

    def _loadable(self, key: Key) -> bool:
        """Known, and not a version that failed to load and has not changed since."""
        return key in self.known and self.failed.get(key) != self.known[key]

    def _used(self) -> int:
        return sum(s.memory_bytes for s in self.served.values())

    def _start(self, key: Key, model: ModelVersion, runtime: Runtime, memory: int) -> None:
        loop = LaneLoop(model, runtime, self.store, self.worker_id, self.reliability, self.fair_share)
        stopping = asyncio.Event()
        task = asyncio.create_task(loop.run(stopping), name=f"lane-{label(key)}")
        task.add_done_callback(lambda t: self._ended(key, t))
        self.served[key] = Served(model, runtime, loop, stopping, task, memory, time.monotonic())
        self._set_state(key, "ready")

    async def _restart(self, key: Key, model: ModelVersion, runtime: Runtime) -> None:
        """The lane's loop finishes what it holds, then a new one runs with the new config."""
        old = self.served[key]
        old.stopping.set()
        await old.task
        self._start(key, model, runtime, old.memory_bytes)

    async def _stop(self, key: Key) -> None:
        served = self.served.pop(key, None)
        if served is None:
            return
        served.stopping.set()
        MODEL_UNLOADS.labels(key[0], str(key[1])).inc()
        try:
            await served.task
        finally:
            self.states.pop(label(key), None)
            self.on_change()

    def _ended(self, key: Key, task: asyncio.Task) -> None:
        """A lane loop that ended without being asked to is dropped, to be loaded again on demand."""
        served = self.served.get(key)
        if served is None or served.task is not task or served.stopping.is_set():
            return
        error = None if task.cancelled() else task.exception()
        log.error("lane of %s ended unexpectedly: %r", label(key), error)
        del self.served[key]
        self._set_state(key, "failed", f"lane loop ended: {error!r}")

    def _set_state(self, key: Key, state: str, error: str | None = None) -> None:
        served = self.served.get(key)
        # A ready version says what it really runs on (a .tflite on a GPU worker: the CPU).
        placement = placement_of(served.runtime, self.settings.device) if served and state == "ready" else {}
        self.states[label(key)] = {"state": state, "error": error, **placement}
        self.on_change()

    def serving(self) -> list[str]:
        return [label(key) for key in self.served]
