"""MAAS_WORKER_READY_FILE, what deploy/'s startupProbe and livenessProbe watch: absent until the
worker's models are loaded and warmed up, then touched at every heartbeat."""

import os

from tests.conftest import WorkerHandle
from tests.support.waiting import wait_until


async def test_the_ready_file_appears_once_warm_and_stays_fresh(redis, settings, tmp_path):
    ready_file = tmp_path / "probe" / "worker-ready"
    handle = WorkerHandle(settings.model_copy(update={"worker_ready_file": ready_file}))
    assert not ready_file.exists()
    worker = await handle.start()
    try:
        await wait_until(ready_file.exists, 10, "the ready file")
        assert worker.lanes is not None and worker.lanes.served  # a version serves, warmed up
        first = os.stat(ready_file).st_mtime_ns
        await wait_until(lambda: os.stat(ready_file).st_mtime_ns > first, 10, "touched at the next beat")
    finally:
        await handle.stop()
