"""Script calls that arrive in one turn of the event loop, sent to Redis as one pipeline.

Under load an API process starts many submits at once (uvicorn hands it every request whose
bytes arrived together); each sent alone costs the client a pipeline, a pooled connection, a
write and a read (~110 us of redis-py per call here, `bench/call_groups.py`), the server a
read and a reply per client. A `CallGroups` holds the calls made before the loop's next turn
and sends them as one pipeline (~45 us a call, 32 callers), each call still its own EVALSHA with
its own reply or error: one call's refusal or script error is that caller's alone. A lone call
waits one turn of the loop, not a timer, so light load pays nothing measurable.

The group is sent by a task of its own, not by any caller: a caller that is cancelled (its
client went away) neither cancels its neighbours' calls nor un-sends its own, as a cancel
mid-command never could either.
"""

import asyncio
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from batching import lua

# The most calls in one pipeline: a bound on one write's size and one reply's wait, far above
# what one turn of the loop gathers at the connections a process serves.
MAX_CALLS = 128


class CallGroups:
    """Runs script calls in groups; `wait` (replicas, timeout ms) ends each group's pipeline
    with WAIT, whose count every call of the group gets back (batching.lua.execute)."""

    def __init__(self, redis, wait: tuple[int, int] | None = None):
        self._redis = redis
        self._wait = wait
        self._pending: list[tuple[lua.Call, asyncio.Future]] = []
        self._sending: set[asyncio.Task] = set()  # strong references: the loop keeps weak ones

    async def run(self, call: lua.Call) -> tuple[Any, int | None]:
        """The call's reply (raised if an error) and, with `wait`, the replicas that hold the
        group's writes (None without)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if not self._pending:
            loop.call_soon(self._send_pending)
        self._pending.append((call, done))
        return await done

    def _send_pending(self) -> None:
        while self._pending:
            group, self._pending = self._pending[:MAX_CALLS], self._pending[MAX_CALLS:]
            task = asyncio.get_running_loop().create_task(self._send(group))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, group: list[tuple[lua.Call, asyncio.Future]]) -> None:
        try:
            replies = await lua.send(self._redis, [call for call, _ in group], self._wait)
        except BaseException as e:  # the connection, or this task cancelled: every call failed
            failure = e if isinstance(e, Exception) else RedisConnectionError("its group was cancelled")
            for _, done in group:
                if not done.done():
                    done.set_exception(failure)
            if not isinstance(e, Exception):
                raise
            return
        replicas = replies[-1] if self._wait else None
        for (_, done), reply in zip(group, replies, strict=False):
            if done.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                done.set_exception(reply)
            else:
                done.set_result((reply, replicas))
