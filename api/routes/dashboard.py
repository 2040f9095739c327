"""GET /dashboard: one page (HTML, JS, CSS from the api/dashboard package folder; no build step,
no CDN) that polls the JSON routes with the key typed into it. The page itself holds no data, so
it needs no key; every call it makes is authorized like any client's. Its Content-Security-Policy
allows only its own script and style, and calls to this origin."""

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["dashboard"], include_in_schema=False)
_ASSETS = resources.files("api") / "dashboard"
_TYPES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/dashboard")
async def page() -> Response:
    html = (_ASSETS / "index.html").read_bytes()
    return Response(html, media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/dashboard/{asset}")
async def asset(asset: str) -> Response:
    """Only the page's own files, by name: no path reaches anything else."""
    if asset not in _TYPES:
        return Response("no such dashboard asset", status_code=404, media_type="text/plain")
    return Response((_ASSETS / asset).read_bytes(), media_type=_TYPES[asset], headers=_HEADERS)
