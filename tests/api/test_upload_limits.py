"""Upload limits are enforced while the body streams in: a bulk upload over
MAAS_BULK_MAX_UPLOAD_BYTES is refused before it is read (declared size) or as soon as it passes
the limit (chunked), never after the whole body was read and spooled."""

import pytest

from tests.conftest import in_process_api

LIMIT = 1024 * 1024
BOUNDARY = "maasboundary"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\ndigits\r\n'
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n'
    "Content-Type: application/octet-stream\r\n\r\n"
).encode()
HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


class CountedBody:
    """A multipart body of `total` bytes of file data, produced lazily; counts what was read."""

    def __init__(self, total: int):
        self.total = total
        self.sent = 0

    async def __aiter__(self):
        yield HEAD
        block = b'{"inputs": [[0]]}\n' * 3641  # ~64 KiB
        while self.sent < self.total:
            self.sent += len(block)
            yield block
        yield f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
async def limited_api(settings, redis):
    async with in_process_api(settings.model_copy(update={"bulk_max_upload_bytes": LIMIT})) as client:
        yield client


async def test_a_declared_oversized_bulk_upload_is_refused_before_it_is_read(limited_api):
    body = CountedBody(200 * 1024 * 1024)
    headers = {**HEADERS, "Content-Length": str(len(HEAD) + body.total + 20)}
    response = await limited_api.post("/v1/bulk-jobs", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert "MAAS_BULK_MAX_UPLOAD_BYTES" in response.json()["error"]["message"]
    assert body.sent == 0


async def test_a_chunked_oversized_bulk_upload_is_refused_once_it_passes_the_limit(limited_api):
    body = CountedBody(300 * 1024 * 1024)
    response = await limited_api.post("/v1/bulk-jobs", content=body, headers=HEADERS)
    assert response.status_code == 413, response.text
    assert body.sent < 2 * LIMIT


async def test_a_bulk_upload_within_the_limit_is_accepted(limited_api):
    body = CountedBody(LIMIT // 2)
    response = await limited_api.post("/v1/bulk-jobs", content=body, headers=HEADERS)
    assert response.status_code == 202, response.text


async def test_a_bulk_submit_that_is_not_a_form_is_415(limited_api):
    response = await limited_api.post("/v1/bulk-jobs", json={"model": "digits", "path": "/x.jsonl"})
    assert response.status_code == 415, response.text
    assert "multipart/form-data" in response.json()["error"]["message"]
