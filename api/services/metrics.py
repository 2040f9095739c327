"""The API's /metrics: what this process (or, in multi-process mode, every API process) counted,
and the queue state read from Redis once per scrape (batching/queue_state.py), as gauges.

One registry is built per scrape from the counters and the queue state just read, so the gauges
are never stale and nothing reads Redis between scrapes."""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, values
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector

from api.services.registry import AsyncRegistry
from batching.queue_state import QueueState, read_queue_state
from maas.models.registry import ModelRepository

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LANE = ("model", "version", "lane")


def multiprocess_mode() -> bool:
    """prometheus-client chose shared files (PROMETHEUS_MULTIPROC_DIR set at start)."""
    return values.ValueClass is not values.MutexValue


class _Gauges(Collector):
    """The queue state just read, as gauge families."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


class _Process(Collector):
    """This process's own counters (the default registry), for a single-process API."""

    def collect(self) -> Iterator[Metric]:
        return iter(REGISTRY.collect())


def _lane_gauge(name: str, doc: str, state: QueueState, attribute: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=LANE)
    for lane in state.lanes:
        value = getattr(lane, attribute)
        family.add_metric([lane.model, str(lane.version), lane.lane], 0.0 if value is None else value)
    return family


def queue_families(state: QueueState) -> list[Metric]:
    families = [
        _lane_gauge("maas_lane_rows_queued", "Rows accepted and not yet acknowledged.", state, "rows_queued"),
        _lane_gauge(
            "maas_lane_entries_waiting", "Entries not yet handed to a worker.", state, "entries_waiting"
        ),
        _lane_gauge("maas_lane_entries_pending", "Entries handed out, not acknowledged.", state, "pending"),
        _lane_gauge(
            "maas_lane_oldest_waiting_seconds",
            "Age of the oldest entry not yet handed to a worker (0: none waits).",
            state,
            "oldest_waiting_age_s",
        ),
        _lane_gauge(
            "maas_lane_dead_letters", "Entries in the lane's dead-letter stream.", state, "dead_letters"
        ),
    ]
    workers = GaugeMetricFamily(
        "maas_workers_live", "Batch workers with a recent heartbeat.", len(state.workers)
    )
    holders = GaugeMetricFamily(
        "maas_version_workers", "Live workers holding a model version, by state.", labels=(*LANE[:2], "state")
    )
    counts: dict[tuple[str, str, str], int] = {}
    for worker in state.workers:
        for label, held in worker.versions.items():
            name, _, version = label.rpartition(":")
            key = (name, version, str(held.get("state")))
            counts[key] = counts.get(key, 0) + 1
    for key, count in sorted(counts.items()):
        holders.add_metric(list(key), count)
    queues = GaugeMetricFamily(
        "maas_queue_entries", "Entries in rq queues and the webhook outbox.", labels=("queue",)
    )
    for queue, count in sorted(state.queues.items()):
        queues.add_metric([queue], count)
    return [*families, workers, holders, queues]


def _all_versions(repository: ModelRepository) -> list[tuple[str, int]]:
    """Retired versions too: workers still finish the jobs queued for them."""
    return [
        (name, version)
        for name in repository.names(include_retired=True)
        for version in repository.versions(name, include_retired=True)
    ]


@dataclass
class MetricsService:
    redis: aioredis.Redis
    registry: AsyncRegistry
    heartbeat_s: float
    rq_redis: aioredis.Redis | None = None  # rq's own Redis, when it has one

    async def exposition(self, accept: str) -> tuple[bytes, str]:
        """The metrics as OpenMetrics when the scraper accepts it, else Prometheus text."""
        versions = await asyncio.to_thread(_all_versions, self.registry.repository)
        state = await read_queue_state(self.redis, versions, self.heartbeat_s, self.rq_redis)
        registry = CollectorRegistry()
        if multiprocess_mode():
            MultiProcessCollector(registry)
        else:
            registry.register(_Process())
        registry.register(_Gauges(queue_families(state)))
        if "application/openmetrics-text" in accept:
            return openmetrics.generate_latest(registry), openmetrics.CONTENT_TYPE_LATEST
        return generate_latest(registry), TEXT_CONTENT_TYPE
