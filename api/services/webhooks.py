"""Turns the webhook a job or bulk job asks for into the record stored with it, its URL checked
now (and again by the webhook worker on every delivery attempt)."""

from dataclasses import dataclass

from api.schemas import WebhookCreate
from batching.webhook import WebhookRecord
from maas.core.errors import InvalidInputError
from maas.core.url_safety import UnsafeURLError, WebhookPolicy, resolve_safe_async


@dataclass(frozen=True)
class WebhookIntake:
    signing: bool  # whether the server has a secret to sign deliveries with (MAAS_WEBHOOK_SECRETS)
    policy: WebhookPolicy

    async def accept(self, webhook: WebhookCreate | None) -> WebhookRecord | None:
        """The record to store for `webhook`; None without one. InvalidInputError (loc
        `webhook...`) when webhooks are off or the URL is not one we may call."""
        if webhook is None:
            return None
        if not self.signing:
            raise InvalidInputError(
                "webhook: this server has no signing secret (MAAS_WEBHOOK_SECRETS); webhooks are off",
                ("webhook",),
            )
        try:
            await resolve_safe_async(webhook.url, self.policy)
        except UnsafeURLError as e:
            raise InvalidInputError(e.message, ("webhook", "url")) from e
        return WebhookRecord(webhook.url, tuple(dict.fromkeys(webhook.events)))
