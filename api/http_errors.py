"""Starlette's own HTTP errors as the OpenAPI document states them: a 405 names in `Allow` every
method the document gives its path (Starlette named only the first matching route's), and a body
FastAPI cannot parse is a 422 like every other malformed body (it was an undocumented 400)."""

import re

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api.errors import error_response

PARSE_FAILURE = "There was an error parsing the body"


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the document gives the path template matching `path` (none if it has none)."""
    for template, operations in app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path):
            return sorted(method.upper() for method in operations)
    return []


async def _http_error(request: Request, error: HTTPException) -> Response:
    if error.status_code == 400 and error.detail == PARSE_FAILURE:
        return error_response(422, "invalid_input", "body: malformed JSON", ["body"])
    if error.status_code == 405 and (allowed := allowed_methods(request.app, request.url.path)):
        error = HTTPException(
            405, error.detail, headers={**(error.headers or {}), "Allow": ", ".join(allowed)}
        )
    return await http_exception_handler(request, error)


def install_http_error_handler(app: FastAPI) -> None:
    # Starlette types every handler as taking Exception; this one is registered for HTTPException.
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
