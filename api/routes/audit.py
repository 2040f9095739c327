"""/v1/audit: the management actions, newest first."""

from fastapi import APIRouter, Query

from api.deps import Audit
from api.schemas import AuditEntry

router = APIRouter(prefix="/v1/audit", tags=["models"])


@router.get("", response_model=list[AuditEntry])
async def read_audit(
    audit: Audit, count: int = Query(100, ge=1, le=1000, description="Newest entries.")
) -> list[dict]:
    return await audit.recent(count)
