"""GET /metrics: Prometheus text, or OpenMetrics when the scraper's Accept asks for it. Open like
the probes (a scraper holds no API key); it shows model names and queue depths, no job data."""

from fastapi import APIRouter, Request, Response

from api.deps import Metrics

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, service: Metrics) -> Response:
    body, content_type = await service.exposition(request.headers.get("accept", ""))
    return Response(body, media_type=content_type)
