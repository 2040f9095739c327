"""What an operator looks at besides the queue state (batching/queue_state.py): the newest dead
letters of each lane and the webhooks whose delivery failed for good, each in one pipelined
round trip, bounded, never scanning keys."""

from collections.abc import Iterable
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from batching import keys

Version = tuple[str, int]
# Fields of a record shown with its failed webhook; never its URL's path or query (they may
# carry a token), only the receiver's host.
_WEBHOOK_FIELDS = (
    "id",
    "tenant",
    "status",
    "webhook_url",
    "webhook_state",
    "webhook_last_status",
    "webhook_attempts",
)


async def recent_dead_letters(
    redis: aioredis.Redis, versions: Iterable[Version], per_lane: int = 20
) -> list[dict]:
    """The newest `per_lane` dead letters of each version's online and bulk lane, newest first."""
    lanes = [(m, v, kind, lane) for m, v in versions for kind, lane in _lanes(m, v)]
    async with redis.pipeline(transaction=False) as pipe:
        for *_, lane in lanes:
            pipe.xrevrange(keys.dead_letters(lane), "+", "-", count=per_lane)
        answers = await pipe.execute()
    letters = []
    for (model, version, kind, _), entries in zip(lanes, answers, strict=True):
        for stream_id, fields in entries:
            letters.append(_letter(model, version, kind, stream_id, fields))
    return sorted(letters, key=lambda letter: letter["at"], reverse=True)


def _lanes(model: str, version: int) -> list[tuple[str, str]]:
    return [("online", keys.online_lane(model, version)), ("bulk", keys.bulk_lane(model, version))]


def _letter(model: str, version: int, kind: str, stream_id: bytes, fields: dict[bytes, bytes]) -> dict:
    text = {k.decode(): v.decode(errors="replace") for k, v in fields.items() if k != b"inputs"}
    at = float(text["at"]) if "at" in text else int(stream_id.split(b"-")[0]) / 1000
    return {
        "model": model,
        "version": version,
        "lane": kind,
        "job_id": text.get("job") or text.get("bulk"),
        "tenant": text.get("tenant", keys.DEFAULT_TENANT),
        "rows": int(text.get("rows", 0)),
        "deliveries": int(text.get("deliveries", 0)),
        "at": at,
    }


async def failed_webhooks(redis: aioredis.Redis, limit: int = 50) -> list[dict]:
    """The newest `limit` records (jobs, bulk jobs) whose webhook delivery failed for good, with
    their webhook's state now (a redelivery may be under way)."""
    failed = await redis.zrevrange(keys.WEBHOOK_FAILURES, 0, limit - 1, withscores=True)
    if not failed:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for key, _ in failed:
            pipe.hmget(key, _WEBHOOK_FIELDS)
        answers = await pipe.execute()
    shown = []
    for (key, failed_at), values in zip(failed, answers, strict=True):
        if values[0] is None:  # the record expired: nothing to redeliver
            continue
        record = dict(
            zip(_WEBHOOK_FIELDS, (v.decode() if v is not None else None for v in values), strict=True)
        )
        shown.append(
            {
                "kind": "bulk" if key.decode() == keys.bulk_job(record["id"] or "") else "job",
                "id": record["id"],
                "tenant": record["tenant"],
                "status": record["status"],
                "receiver": urlsplit(record["webhook_url"] or "").netloc,
                "state": record["webhook_state"],
                "last_status": record["webhook_last_status"],
                "attempts": int(record["webhook_attempts"] or 0),
                "failed_at": failed_at,
            }
        )
    return shown
