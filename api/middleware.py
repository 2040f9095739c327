"""RateLimit-* headers on every answer to a rate-limited key, errors included: the
Authenticator leaves its decision in the request's state, and this writes it out."""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RateLimitHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = scope.get("state", {}).get("rate_limit")
                if decision is not None:
                    headers = MutableHeaders(scope=message)
                    for name, value in decision.headers().items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
