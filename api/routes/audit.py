"""/v1/audit: who did what, newest first; a tenant sees its own entries, a key administrator
(keys:admin) everyone's."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Audit, AuditReader
from api.schemas import AuditEntry
from api.services.audit_trail import AuditKind

router = APIRouter(prefix="/v1/audit", tags=["models"])


@router.get("", response_model=list[AuditEntry])
async def read_audit(
    audit: Audit,
    caller: AuditReader,
    count: int = Query(100, ge=1, le=1000, description="Newest entries."),
    kind: Annotated[
        AuditKind,
        Query(description="`management` (models, aliases, keys) or `data` (submit, cancel, redeliver)."),
    ] = AuditKind.MANAGEMENT,
) -> list[dict]:
    return await audit.recent(caller, count, kind)
