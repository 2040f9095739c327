"""Fixtures of the object-store tests: a real S3 API (moto's server, tests/support/s3_server.py)
for the module, and a fresh bucket per test."""

import pytest
import s3fs

from tests.support.s3_server import S3_ENV, S3Server

BUCKET = "maas-bulk"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """A fresh bucket; the standard AWS_* variables point s3fs (here and in child processes) at
    the server."""
    for name, value in {**S3_ENV, "AWS_ENDPOINT_URL": s3_server.url}.items():
        monkeypatch.setenv(name, value)
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    if fs.exists(BUCKET):
        fs.rm(BUCKET, recursive=True)
    fs.mkdir(BUCKET)
    s3fs.S3FileSystem.clear_instance_cache()
    return fs
