"""A job's webhook: where to POST which terminal events, and the delivery's state so far."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args


class WebhookState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"


WebhookEvent = Literal["succeeded", "failed", "cancelled", "expired"]  # the terminal job states
EVENTS: tuple[WebhookEvent, ...] = get_args(WebhookEvent)


@dataclass(frozen=True)
class WebhookRecord:
    url: str
    events: tuple[str, ...]
    state: WebhookState | None = None  # None until an event the hook wants happens
    event_id: str | None = None  # the `webhook-id`, the same on every attempt of the event
    attempts: int = 0
    last_status: int | str | None = None  # an HTTP status, or why no status came back
    next_attempt_at: float | None = None

    def to_fields(self) -> dict[str, str]:
        """The fields written at submit; the delivery state is written as it changes."""
        return {"webhook_url": self.url, "webhook_events": ",".join(self.events)}

    @classmethod
    def from_fields(cls, f: dict[str, bytes]) -> "WebhookRecord | None":
        if "webhook_url" not in f:
            return None
        last = f.get("webhook_last_status")
        last_status = None if last is None else (int(last) if last.isdigit() else last.decode())
        return cls(
            url=f["webhook_url"].decode(),
            events=tuple(f["webhook_events"].decode().split(",")),
            state=WebhookState(f["webhook_state"].decode()) if "webhook_state" in f else None,
            event_id=f["webhook_id"].decode() if "webhook_id" in f else None,
            attempts=int(f.get("webhook_attempts", b"0")),
            last_status=last_status,
            next_attempt_at=float(f["webhook_next_attempt_at"]) if f.get("webhook_next_attempt_at") else None,
        )

    def public(self) -> dict:
        return {
            "url": self.url,
            "events": list(self.events),
            "state": self.state.value if self.state else None,
            "id": self.event_id,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "next_attempt_at": self.next_attempt_at,
        }
