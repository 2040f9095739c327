"""Cross-site request forgery: a page on any site can make a visitor's browser send a "simple"
request to the API (a form POST, or a fetch with a text/plain body), from wherever that browser
sits on the network, though it cannot read the answer. With no admin tokens, such a request could
roll back an alias or upload a model. So:

- a state-changing request (POST, PUT, PATCH, DELETE) whose `Origin` is neither the API's own nor
  one of MAAS_ALLOWED_ORIGINS, or that the browser marks `Sec-Fetch-Site: cross-site`, gets 403
  (clients that are not browsers send neither header);
- each endpoint takes only its real content type: JSON endpoints application/json, uploads
  multipart/form-data, and body-less ones no form or text body (415 otherwise).
"""

from fastapi import Depends, Request

from api.limits import shortened
from maas.core.errors import ForbiddenError, UnsupportedMediaTypeError

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalized_origin(origin: str) -> str:
    """scheme://host[:port], lower case, without a default port or a trailing slash."""
    scheme, _, rest = origin.strip().rstrip("/").lower().partition("://")
    host, _, port = rest.rpartition(":") if rest.rpartition(":")[2].isdigit() else (rest, "", "")
    return (
        f"{scheme}://{host}" if not port or DEFAULT_PORTS.get(scheme) == port else f"{scheme}://{host}:{port}"
    )


def own_origins(request: Request) -> set[str]:
    host = request.headers.get("host", "")
    return {normalized_origin(f"{scheme}://{host}") for scheme in DEFAULT_PORTS}


def check_origin(request: Request, allowed_origins: list[str]) -> None:
    if request.method not in UNSAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is not None:
        wanted = normalized_origin(origin)
        if wanted in own_origins(request) or wanted in {normalized_origin(o) for o in allowed_origins}:
            return
        raise ForbiddenError(
            f"origin {shortened(origin, 200)!r} may not change state here (a cross-site request); "
            "MAAS_ALLOWED_ORIGINS lists the browser origins that may"
        )
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise ForbiddenError(
            "a cross-site browser request may not change state here; MAAS_ALLOWED_ORIGINS lists "
            "the browser origins that may"
        )


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def is_json(kind: str) -> bool:
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def require_json_or_none(request: Request) -> None:
    """415 unless the body is declared JSON or not declared at all (clients such as curl without
    -H, which a browser cannot forge cross-site without sending Origin)."""
    kind = media_type(request)
    if kind and not is_json(kind):
        raise UnsupportedMediaTypeError(f"body: send application/json, not {shortened(kind, 100)}")


async def _no_form_body(request: Request) -> None:
    require_json_or_none(request)


NO_FORM_BODY = Depends(_no_form_body)  # for body-less state-changing routes: no form, no text
