"""Each tenant's limits from the settings: its cap on queued rows and its fair-share weight."""

from types import MappingProxyType

from batching.fair_share import FairShare
from maas.core.settings import Settings


def max_queued_rows(settings: Settings, tenant: str) -> int:
    """Rows the tenant may have queued across lanes (0: no limit): its own limit, else the default."""
    limit = settings.tenant_limits.get(tenant)
    if limit is not None and limit.max_queued_rows is not None:
        return limit.max_queued_rows
    return settings.tenant_max_queued_rows


def fair_share(settings: Settings) -> FairShare:
    """The lane's fair-share policy with the tenants' weights (1 for a tenant not listed)."""
    weights = {tenant: limit.weight for tenant, limit in settings.tenant_limits.items()}
    return FairShare(weights=MappingProxyType(weights))
