"""Keeps a worker's lanes in step with the model repository, without a restart.

It rescans the repository when the API announces a change (and every `model_rescan_s`, for a
notice missed or a file dropped in by hand), and every DEMAND_POLL_S reads the depth of each lane
it knows. A version is loaded and warmed up before its lane is served: at start and when it
appears (preload, within the memory budget), or when its first job arrives. Loads run in the
background, several at once (worker.batch.loads), while the other lanes keep serving. A config change
restarts the lane's loop with the new policy, on a new runtime if the runtime options changed.
A retired version is served until its lane is empty, then unloaded. Past the memory budget, the
least recently used idle version is unloaded to make room. Before its first load a version's load
and warm-up are rehearsed in a child process held to the budget: one that would exceed it (or
crash its runtime) is refused, its state `failed` with the reason, and never enters this process.
"""

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from batching import model_events
from batching.jobs.store import JobStore
from batching.metrics import MODEL_UNLOADS
from batching.tenant_limits import fair_share
from maas.core.errors import MaasError
from maas.core.log_fields import fields
from maas.core.sealing import Sealer, announce
from maas.core.settings import Settings
from maas.models.registry import ModelRepository, ModelVersion
from maas.models.remote import RepositoryMirror
from worker.batch.lane_loop import LaneLoop, Reliability
from worker.batch.loads import LoadProgress, LoadSlots
from worker.batch.memory import LoadMeter, LoadRehearsals, version_bytes
from worker.batch.served import Key, Served, label, lane_depths, needs_new_runtime, scan
from worker.batch.version_load import load_version
from worker.runtimes.base import Runtime
from worker.runtimes.catalog import placement_of

log = logging.getLogger(__name__)
DEMAND_POLL_S = 0.2


class LaneManager:
    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis,
        registry: ModelRepository,
        worker_id: str,
        on_change: Callable[[], None] = lambda: None,
        mirror: RepositoryMirror | None = None,
    ):
        self.settings = settings
        self.redis = redis
        self.registry = registry
        self.mirror = mirror  # an object-store repository, cached in registry's directory
        self.worker_id = worker_id
        sealer = Sealer.from_setting(settings.data_keys)
        announce(sealer, "worker")
        self.store = JobStore(redis, settings.result_ttl_s, sealer, cluster=settings.redis_cluster)
        self.reliability = Reliability(settings.visibility_timeout_s, settings.max_deliveries)
        self.fair_share = fair_share(settings)
        self.states: dict[str, dict] = {}  # "name:version" -> {state, error}, for the heartbeat
        self.served: dict[Key, Served] = {}
        self.known: dict[Key, ModelVersion] = {}
        self.failed: dict[Key, ModelVersion] = {}  # retried only once the version's files change
        self.unfit: dict[Key, ModelVersion] = {}  # preloads past the budget, until room is made
        self.changed = asyncio.Event()
        self.on_change = on_change
        # A GPU worker budgets the device memory its versions take, a CPU worker its own RSS.
        self.meter = LoadMeter.for_device(settings.device)
        self._budget = self.meter.budget_bytes(settings)
        self.rehearsals = LoadRehearsals(
            self._budget, settings.worker_load_rehearsal_timeout_s, settings.device
        )
        self.loads = LoadSlots(settings.worker_max_concurrent_loads)
        log.info("memory budget for loaded models: %.0f MiB (0: none)", self._budget / 2**20)

    async def start(self) -> None:
        """The first sync of an object-store repository, scan and preload (its loads awaited),
        before the worker announces itself."""
        if self.mirror is not None:
            await asyncio.to_thread(self.mirror.sync)
        await self.rescan()
        await asyncio.gather(*self.loads.tasks.values(), return_exceptions=True)

    async def run(self, stopping: asyncio.Event) -> None:
        background = [asyncio.create_task(model_events.follow(self.redis, self.changed))]
        if self.mirror is not None:  # its fetches run beside the scans, which read the cache
            background.append(
                asyncio.create_task(self.mirror.follow(self.settings.model_rescan_s, self.changed))
            )
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
            for task in background:
                task.cancel()
            await self.loads.cancel_all()
            await asyncio.gather(*(self._stop(key) for key in list(self.served)))

    async def rescan(self) -> None:
        models = self.settings.worker_models
        self.known, failures = await asyncio.to_thread(scan, self.registry, models)
        for key, message in failures.items():
            self._set_state(key, "failed", message)
        for key in list(self.served):
            if not self.loads.loading(key):
                await self._follow_change(key)
        if self.settings.worker_preload:
            newest_first = sorted(self.known, key=lambda k: (k[0], -k[1]))
            fits = [k for k in newest_first if self.unfit.get(k) != self.known[k]]
            candidates = [k for k in fits if self._may_load(k) and not self.known[k].retired]
            if not candidates:
                return
            # One child rehearses them all (its start is most of a small model's rehearsal), in
            # the background: demand is followed, and other versions load, meanwhile.
            batch = self.loads.aside(self.rehearsals.prepare([self.known[k] for k in candidates]))
            for key in candidates:
                self.loads.start(key, functools.partial(self._load, key, preload=True, after=batch))

    async def _follow_change(self, key: Key) -> None:
        served, model = self.served[key], self.known.get(key)
        if model is None:
            log.info("%s left the repository; unloading it", label(key))
            await self._stop(key)
        elif model != served.model and self.failed.get(key) != model:
            log.info("%s changed; applying %s", label(key), model.config.model_dump())
            if needs_new_runtime(served.model, model):
                self.loads.start(key, lambda: self._reload(key, model))
            else:
                await self._restart(key, model, served.runtime)

    async def _reload(self, key: Key, model: ModelVersion) -> None:
        """A new runtime for a served version whose config changed; the old one serves meanwhile,
        and keeps serving if the new one fails."""
        async with self.loads.slot(key):
            self.loads.reserved[key] = version_bytes(model)  # both runtimes live for a moment
            runtime = await self._new_runtime(key, model)
        if key not in self.served:
            return
        if runtime is None:
            error = self.states[label(key)]["error"]
            self._set_state(key, "ready", f"new config not applied: {error}")
        else:
            await self._restart(key, model, runtime)

    async def _follow_demand(self) -> None:
        """Loads versions whose lanes (online or bulk) have work, notes which are busy, unloads
        drained retired versions."""
        candidates = sorted(set(self.known) | set(self.served))
        try:
            depths = await lane_depths(self.redis, candidates)
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
            elif served is None and depth > 0 and self._may_load(key):
                self.loads.start(key, functools.partial(self._load, key, preload=False))

    async def _new_runtime(self, key: Key, model: ModelVersion) -> Runtime | None:
        self._set_state(key, "loading")
        progress = self.loads.progress.get(key, LoadProgress())
        try:
            runtime = await load_version(model, self.settings, self.rehearsals, progress)
        except Exception as e:  # a model that cannot load must not take the worker down
            message = e.message if isinstance(e, MaasError) else repr(e)
            log.error("cannot load %s: %s", label(key), message, extra=fields(model=key[0], version=key[1]))
            self.failed[key] = model
            self._set_state(key, "failed", message)
            return None
        self.failed.pop(key, None)
        return runtime

    async def _load(self, key: Key, preload: bool, after: asyncio.Task | None = None) -> None:
        """Rehearses, loads and warms up a version in one of the load slots, its expected size
        reserved in the budget first, then serves its lane. The growth of the process's memory
        is charged only for a load that ran alone: beside another, it is both loads' growth."""
        model = self.known[key]
        self._set_state(key, "loading")  # queued for a slot, then rehearsed: seconds, when large
        if after is not None:
            await asyncio.wait([after])  # not cancelled with this load: others wait for it too
        async with self.loads.slot(key):
            self.loads.progress[key].phase = "rehearsing"
            rehearsal = await self.rehearsals.rehearse(model)  # kept: _new_runtime asks again for free
            estimate = max(version_bytes(model), rehearsal.needed_bytes)
            if not await self._reserve(key, estimate, preload):
                self.unfit[key] = model  # not preloaded again until a version unloads
                self.states.pop(label(key), None)
                self.on_change()
                return  # preloading never unloads another model; a job will load this one
            before, started = self.meter.used_bytes(), time.monotonic()
            runtime = await self._new_runtime(key, model)
            took_s, added = time.monotonic() - started, self.meter.used_bytes() - before
        if runtime is None:
            return
        memory = max(estimate, added) if self.loads.ran_alone(key) else estimate
        self._start(key, model, runtime, memory)
        self.loads.reserved.pop(key, None)
        log.info(
            "serving %s: loaded and warmed up in %.2f s, resident memory +%.1f MiB (charged %.1f MiB)",
            *(label(key), took_s, added / 2**20, memory / 2**20),
        )

    async def _reserve(self, key: Key, needed: int, preload: bool) -> bool:
        """Sets `needed` bytes aside for a load, unloading idle versions (least recently busy
        first) to make room. False for a preload that does not fit: preloading never unloads. A
        job's load goes ahead past the budget when nothing is idle: jobs never starve."""
        async with self.loads.budget_lock:
            if preload and self._budget and self.used_bytes() + needed > self._budget:
                return False
            while self._budget and self.used_bytes() + needed > self._budget:
                idle = [(s.last_busy, k) for k, s in self.served.items() if k != key and not s.depth]
                if not idle:
                    log.warning("memory budget exceeded loading %s; nothing idle to unload", label(key))
                    break
                _, evicted = min(idle)
                log.info("unloading idle %s to stay within the memory budget", label(evicted))
                await self._stop(evicted)
            self.loads.reserved[key] = needed
            return True

    def _may_load(self, key: Key) -> bool:
        """Known, not served nor loading, and not a version that failed to load and has not
        changed since."""
        if key in self.served or self.loads.loading(key):
            return False
        return key in self.known and self.failed.get(key) != self.known[key]

    def used_bytes(self) -> int:
        """What loaded versions take, and what loads in flight set aside."""
        return sum(s.memory_bytes for s in self.served.values()) + self.loads.reserved_bytes()

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
        self.unfit.clear()  # room was made: they may fit now
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

    def reported_states(self) -> dict[str, dict]:
        """Each version's state for the heartbeat; a loading one with its progress."""
        fetching = self.mirror.fetching if self.mirror is not None else {}
        return self.loads.with_progress(self.states, fetching)

    def serving(self) -> list[str]:
        return [label(key) for key in self.served]
