"""One version's load, off the event loop: its rehearsal's verdict, its files read (counted for
its progress), its runtime built and warmed up; counted in the load metrics and logged."""

import asyncio
import logging
import time

from batching.metrics import MODEL_LOAD_SECONDS, MODEL_LOADS
from maas.core.errors import ModelLoadError
from maas.core.log_fields import fields
from maas.core.settings import Settings
from maas.models.registry import ModelVersion
from worker.batch.loads import LoadProgress, read_through
from worker.batch.memory import LoadRehearsals, version_files
from worker.runtimes.base import Runtime
from worker.runtimes.catalog import load_runtime

log = logging.getLogger(__name__)


def _read_and_load(model: ModelVersion, settings: Settings, progress: LoadProgress) -> Runtime:
    """In a thread: the files read (counted), then the runtime built and warmed up."""
    read_through(version_files(model), progress)
    progress.phase = "building"

    def built() -> None:
        progress.phase = "warming"

    return load_runtime(model, settings.device, settings.allow_plugin_runtimes, settings.state_dir, built)


async def load_version(
    model: ModelVersion, settings: Settings, rehearsals: LoadRehearsals, progress: LoadProgress
) -> Runtime:
    """The version's warmed-up runtime; raises (ModelLoadError, or whatever the runtime raised)
    when it cannot load, counted as a failed load."""
    labels = (model.name, str(model.version))
    started = time.perf_counter()
    try:
        progress.phase = "rehearsing"
        refusal = (await rehearsals.rehearse(model)).refusal
        if refusal is not None:  # never loaded here: it would exceed the budget, or crash
            raise ModelLoadError(refusal)
        runtime = await asyncio.to_thread(_read_and_load, model, settings, progress)
    except BaseException:
        MODEL_LOADS.labels(*labels, "failed").inc()
        raise
    elapsed_s = time.perf_counter() - started
    MODEL_LOADS.labels(*labels, "ok").inc()
    MODEL_LOAD_SECONDS.labels(*labels).observe(elapsed_s)
    log.info(
        "loaded %s:%s",
        *labels,
        extra=fields(model=model.name, version=model.version, duration_ms=elapsed_s * 1000),
    )
    return runtime
