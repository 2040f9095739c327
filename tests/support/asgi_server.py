"""An ASGI app served over real HTTP by uvicorn in the test's own event loop (so the test can
reach the app's state), on a free port, with its lifespan: what a client and the server send
and read is what production sends and reads."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from maas.cli.redis_server import free_port
from tests.support.waiting import wait_until


@contextlib.asynccontextmanager
async def serving(app) -> AsyncIterator[str]:
    """The app served until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), 30, f"uvicorn serving on port {port}")
        if task.done():
            task.result()  # it failed to start: its error
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


class Routed:
    """Counts the HTTP requests an app's router sees (the hot paths answer theirs without it)."""

    def __init__(self, app):
        self.count = 0
        self.inner = app.router.middleware_stack
        app.router.middleware_stack = self

    async def __call__(self, scope, receive, send) -> None:
        self.count += scope["type"] == "http"
        await self.inner(scope, receive, send)
