"""The one settings object; every entry point builds it once and passes it down.

Every field is an environment variable with the `MAAS_` prefix. The fields are grouped by what
they govern, one section class per module here; `Settings` is all of them at once."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from maas.core.settings.bulk import BulkSettings
from maas.core.settings.data import DataSettings
from maas.core.settings.fields import SECRET, default_redis_maxmemory_mb, redacted_url
from maas.core.settings.grpc import GrpcSettings
from maas.core.settings.jobs import JobSettings
from maas.core.settings.models import ModelSettings
from maas.core.settings.observability import ObservabilitySettings
from maas.core.settings.redis import RedisSettings
from maas.core.settings.service import ServiceSettings
from maas.core.settings.tenancy import TenancySettings, TenantLimit
from maas.core.settings.tracing import TracingSettings
from maas.core.settings.webhooks import WebhookSettings

__all__ = ["SECRET", "Settings", "TenantLimit", "default_redis_maxmemory_mb", "redacted_url"]


class Settings(
    ServiceSettings,
    RedisSettings,
    JobSettings,
    ModelSettings,
    WebhookSettings,
    BulkSettings,
    TenancySettings,
    DataSettings,
    GrpcSettings,
    TracingSettings,
    ObservabilitySettings,
    BaseSettings,
):
    # hide_input_in_errors: a validation error names the field and the rule, never the value
    # (which may be a token or a secret).
    model_config = SettingsConfigDict(env_prefix="MAAS_", extra="forbid", hide_input_in_errors=True)
