"""What differs between `Client` and `AsyncClient`: how a step of an operation (wire.py) is
carried out. `run` drives an operation's generator: it makes each HTTP request it yields, or
sleeps, and sends back the answer (or throws the transport error in) until it returns."""

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from maas_client.wire import Call, Send, Sleep, Step

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = "maas-client/0.1"


@dataclass(frozen=True)
class Connection:
    """The settings both clients build their httpx client from. The URL defaults to MAAS_URL,
    else http://127.0.0.1:8000; the key to MAAS_API_KEY, sent as `Authorization: Bearer`."""

    url: str
    api_key: str | None
    timeout_s: float

    @classmethod
    def of(cls, url: str | None, api_key: str | None, timeout_s: float) -> "Connection":
        return cls(
            url=url or os.environ.get("MAAS_URL") or DEFAULT_URL,
            api_key=api_key if api_key is not None else os.environ.get("MAAS_API_KEY"),
            timeout_s=timeout_s,
        )

    def httpx_options(self, headers: dict[str, str] | None) -> dict[str, Any]:
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if self.api_key:
            sent["Authorization"] = f"Bearer {self.api_key}"
        return {"base_url": self.url, "headers": sent, "timeout": httpx.Timeout(self.timeout_s)}

    def request(self, http: httpx.Client | httpx.AsyncClient, step: Send) -> httpx.Request:
        timeout = httpx.Timeout(self.timeout_s, read=self.timeout_s + step.extra_read_s)
        return http.build_request(
            step.method,
            step.path,
            params=step.params,
            content=step.content,
            data=step.data,
            files=step.files,
            headers=step.headers,
            timeout=timeout,
        )


class SyncTransport:
    def __init__(self, connection: Connection, http: httpx.Client):
        self.connection, self.http = connection, http

    def run(self, call: Call[T]) -> T:
        try:
            step: Step = next(call)
            while True:
                try:
                    answer = self._carry_out(step)
                except httpx.TransportError as e:
                    step = call.throw(e)
                else:
                    step = call.send(answer)
        except StopIteration as finished:
            return finished.value
        finally:
            call.close()

    def _carry_out(self, step: Step) -> httpx.Response | None:
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            return None
        response = self.http.send(self.connection.request(self.http, step), stream=step.stream)
        if step.stream and response.is_error:
            response.read()  # the error's body, for its message; this also releases it
        return response


class AsyncTransport:
    def __init__(self, connection: Connection, http: httpx.AsyncClient):
        self.connection, self.http = connection, http

    async def run(self, call: Call[T]) -> T:
        try:
            step: Step = next(call)
            while True:
                try:
                    answer = await self._carry_out(step)
                except httpx.TransportError as e:
                    step = call.throw(e)
                else:
                    step = call.send(answer)
        except StopIteration as finished:
            return finished.value
        finally:
            call.close()

    async def _carry_out(self, step: Step) -> httpx.Response | None:
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            return None
        response = await self.http.send(self.connection.request(self.http, step), stream=step.stream)
        if step.stream and response.is_error:
            await response.aread()
        return response
