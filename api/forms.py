"""Reads a multipart/form-data body as it streams in, within limits checked before and while it
is read: a declared Content-Length over the limit is refused before a byte is read, and a body
without one is refused as soon as it passes the limit. (FastAPI's Form/File parameters read and
spool the whole body before the route runs; the upload routes take the Request and call this.)

File parts are spooled by Starlette (memory, then a temporary file); text fields are held in
memory, each at most `field_bytes`."""

import contextlib
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.body import read_bytes
from api.guard import media_type
from maas.core.errors import InvalidInputError, MaasError, UnsupportedMediaTypeError


@dataclass(frozen=True)
class FormLimits:
    file_bytes: int  # the largest file part
    too_large: Callable[[], MaasError]  # the error once the body is known to pass its limit
    field_bytes: int  # the largest text field
    max_fields: int  # text fields
    max_files: int = 1
    # What the body may carry beside the file (part headers, fields): its limit is file_bytes + this.
    slack_bytes: int = 64 * 1024
    urlencoded: bool = False  # also take application/x-www-form-urlencoded (fields, no file)

    @property
    def body_bytes(self) -> int:
        return self.file_bytes + self.slack_bytes


async def _limited(stream: AsyncIterator[bytes], limits: FormLimits) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limits.body_bytes:
            raise limits.too_large()
        yield chunk


async def _urlencoded(request: Request, limits: FormLimits) -> FormData:
    raw = await read_bytes(request, limits.slack_bytes)
    try:
        pairs = urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True, max_num_fields=limits.max_fields)
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidInputError(f"body: malformed form: {e}", ("body",)) from e
    return FormData(dict(pairs))  # each field once: a repeated one keeps its last value


async def read_form(request: Request, limits: FormLimits, what: str) -> FormData:
    """The parsed form; `what` says in the 415 which parts the route wants."""
    kind = media_type(request)
    if kind == "application/x-www-form-urlencoded" and limits.urlencoded:
        return await _urlencoded(request, limits)
    if kind != "multipart/form-data":
        raise UnsupportedMediaTypeError(f"body: send multipart/form-data with {what}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.body_bytes:
        raise limits.too_large()
    parser = MultiPartParser(
        request.headers,
        _limited(request.stream(), limits),
        max_files=limits.max_files,
        max_fields=limits.max_fields,
        max_part_size=limits.field_bytes,
    )
    try:
        return await parser.parse()
    except MultiPartException as e:
        raise InvalidInputError(f"body: malformed multipart form: {e.message}", ("body",)) from e


@contextlib.asynccontextmanager
async def received_form(request: Request, limits: FormLimits, what: str) -> AsyncIterator[FormData]:
    """read_form's form, its spooled files closed (and so removed) afterwards."""
    form = await read_form(request, limits, what)
    try:
        yield form
    finally:
        await form.close()


def check_known_fields(form: FormData, known: tuple[str, ...]) -> None:
    """A field the route does not read is refused, not ignored: a misspelt `webhook_url` would
    otherwise be accepted and silently do nothing."""
    unknown = sorted(set(form.keys()) - set(known))
    if unknown:
        raise InvalidInputError(
            f"{', '.join(unknown)}: unknown form field{'s' if len(unknown) > 1 else ''}; "
            f"known: {', '.join(known)}",
            (unknown[0],),
        )


def text_field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise InvalidInputError(f"{name}: send it as a text field, not a file", (name,))
    return value


def file_field(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if value is not None and not isinstance(value, UploadFile):
        raise InvalidInputError(f"{name}: send it as a file part (with a filename)", (name,))
    return value
