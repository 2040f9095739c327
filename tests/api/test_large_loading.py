"""A worker loading a large version (hundreds of MB of external data) keeps answering its other
lanes meanwhile: the load and warm-up run off the event loop (onnxruntime releases the GIL while
it builds the session), the version reports `loading` from its rehearsal on and `ready` once
warmed up, and the memory budget charges it at least its files' size (not the few KB of its
graph file)."""

import asyncio
import time

import numpy as np

from batching import model_events
from tests.support import large_models
from tests.support.model_versions import answered_by, finished, score
from tests.support.waiting import wait_until

WIDTH, DEPTH = 4096, 4  # 256 MiB of weights
LANE_BOUND_S = 2.0  # an offset job answers in milliseconds; the bound is for a loaded CI machine


async def test_other_lanes_keep_answering_while_a_large_version_loads(
    api, redis, offset_v1, worker, model_repo
):
    assert answered_by(await finished(api, await score(api, 1.0)), 1.0) == 1.0
    # In a thread: the in-process worker shares this event loop and must keep serving.
    await asyncio.to_thread(large_models.mlp, model_repo / "big" / "1", WIDTH, DEPTH, files=2)
    states: list[str] = []
    latencies: list[float] = []

    def big_state() -> str:
        return worker.lanes.states.get("big:1", {}).get("state", "")

    async def keep_scoring() -> None:
        while big_state() != "ready":
            started = time.monotonic()
            job = await finished(api, await score(api, 2.0))
            assert answered_by(job, 2.0) == 1.0
            if big_state() == "loading":
                latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.01)

    async def watch() -> None:
        while big_state() != "ready":
            states.append(big_state())
            await asyncio.sleep(0.005)

    await model_events.announce(redis, "version.create", "big", 1)  # as an upload would
    await asyncio.wait_for(asyncio.gather(keep_scoring(), watch()), 120)
    print(f"{len(latencies)} jobs answered while loading, slowest {max(latencies, default=0) * 1000:.0f} ms")
    assert "loading" in states
    assert latencies, "no job was answered while the large version loaded"
    assert max(latencies) < LANE_BOUND_S, latencies
    served = worker.lanes.served[("big", 1)]
    assert served.memory_bytes >= DEPTH * WIDTH * WIDTH * 4
    x = np.ones((1, WIDTH), np.float32)
    response = await api.post(
        "/v1/jobs", json={"model": "big", "inputs": x.tolist()}, headers={"Prefer": "wait=30"}
    )
    assert (await finished(api, response.json()))["status"] == "succeeded"
    status = await wait_until(lambda: _status(api), 10, "big:1 ready in the API's view")
    assert status == "ready"


async def _status(api) -> str | None:
    state = (await api.get("/v1/models/big/versions/1")).json()
    return state["status"] if state["status"] == "ready" else None
