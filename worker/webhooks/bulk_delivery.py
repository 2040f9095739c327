"""One webhook delivery attempt for a bulk job that ended, run as an rq task: the same signing,
address pinning and retry schedule as a job's webhook, the bulk job as the body."""

from batching import keys
from batching.bulk.record import BulkRecord, bulk_public
from worker.webhooks import delivery as webhook_delivery


def deliver(bulk_id: str) -> str:
    key = keys.bulk_job(bulk_id)
    raw = webhook_delivery.current_context().redis.hgetall(key)
    if not raw:
        return "bulk job gone (expired)"
    record = BulkRecord.from_fields(raw)
    return webhook_delivery.post_event(key, record.webhook, bulk_public(record))
