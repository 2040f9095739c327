"""Every gRPC method runs through `Calls.run`: the caller from the call's metadata, by the
same Authenticator, keys and scopes as HTTP (`authorization: Bearer maas_sk_...`), then the
method, whose maas errors become statuses (api/rpc/status.py). A submit (ModelInfer, SubmitJob)
also takes the caller's W3C `traceparent` from the metadata (`traceparent_of`)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TypeVar, cast

import grpc
from fastapi import Request

from api.auth import Authenticator
from api.errors import Redaction
from api.rpc.status import rpc_error
from maas.core.access import Caller, Scope

T = TypeVar("T")
TRACEPARENT = "traceparent"  # W3C trace context, as call metadata (gRPC sends names in lower case)


def traceparent_of(context: grpc.aio.ServicerContext) -> str | None:
    """The caller's `traceparent` metadata, for a submit to keep with its job as HTTP's header
    is kept (maas.core.tracing checks it: a malformed one is dropped)."""
    for key, value in context.invocation_metadata() or ():
        if key == TRACEPARENT and isinstance(value, str):
            return value
    return None


class CallRequest:
    """The parts of an HTTP request the Authenticator reads, taken from a gRPC call: its
    metadata as headers (gRPC sends their names in lower case), the peer's address, and a
    state where the rate decision goes (no response headers here to write it on)."""

    def __init__(self, context: grpc.aio.ServicerContext):
        self.headers = {
            key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)
        }
        host = _peer_host(context.peer() or "")
        self.client = SimpleNamespace(host=host)
        self.state = SimpleNamespace()


def _peer_host(peer: str) -> str:
    """`ipv4:127.0.0.1:5000` / `ipv6:[::1]:5000` / `unix:...` -> the address."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return rest or "unknown"


@dataclass(frozen=True)
class Calls:
    auth: Authenticator
    redaction: Redaction

    async def caller(self, context: grpc.aio.ServicerContext, scope: Scope) -> Caller:
        # The Authenticator reads headers, client and state, which CallRequest has.
        return await self.auth.authorize(cast(Request, CallRequest(context)), scope)

    async def run(
        self,
        context: grpc.aio.ServicerContext,
        scope: Scope,
        method: Callable[[Caller], Awaitable[T]],
    ) -> T:
        """The method's answer for the authorized caller, or the call aborted with its status."""
        try:
            return await method(await self.caller(context, scope))
        except Exception as e:
            await self.abort(context, e)
            raise

    async def abort(self, context: grpc.aio.ServicerContext, error: Exception) -> None:
        """Ends the call with the error's status (raises); returns for an error that is a bug."""
        mapped = rpc_error(error, self.redaction)
        if mapped is not None:
            await context.abort(mapped.code, mapped.message, mapped.trailing_metadata())
