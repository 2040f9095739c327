"""`maas models ...` against a real API process over real HTTP."""

import os

import pytest
from typer.testing import CliRunner

from maas.cli.models import models_app
from maas.cli.redis_server import free_port
from tests.support import onnx_models
from tests.support.processes import MaasProcess


@pytest.fixture
def api_url(settings, redis, tmp_path):
    served = settings.model_copy(update={"port": free_port()})
    with MaasProcess("api", tmp_path / "api.log", served):
        yield f"http://127.0.0.1:{served.port}"


def run(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(models_app, [*args, "--url", url], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_push_promote_rollback_retire_through_the_cli(api_url, model_repo, tmp_path):
    first = onnx_models.offset(tmp_path / "a" / "model.onnx", 1.0)
    second = onnx_models.offset(tmp_path / "b" / "model.onnx", 2.0)
    config = tmp_path / "config.json"
    config.write_text('{"max_batch_size": 8}')

    code, out = run(api_url, "push", "offset", str(first), "--alias", "stable")
    assert code == 0, out
    assert "offset version 1 created" in out and "offset:stable -> 1 (was None)" in out
    code, out = run(api_url, "push", "offset", str(second), "--config", str(config))
    assert code == 0 and "offset version 2 created" in out, out
    assert (model_repo / "offset" / "2" / "config.json").is_file()

    code, out = run(api_url, "promote", "offset", "2", "--alias", "stable")
    assert code == 0 and "offset:stable -> 2 (was 1)" in out, out
    code, out = run(api_url, "rollback", "offset", "--alias", "stable")
    assert code == 0 and "offset:stable -> 1 (was 2)" in out, out

    code, out = run(api_url, "retire", "offset", "1")
    assert code == 1 and "409" in out and "stable" in out, out
    code, out = run(api_url, "retire", "offset", "2")
    assert code == 0 and "offset version 2 retired" in out, out

    code, out = run(api_url, "list")
    assert code == 0 and "offset" in out and "stable->1" in out, out
    code, out = run(api_url, "show", "offset")
    assert code == 0 and "stable" in out, out
    code, out = run(api_url, "configure", "offset", "1", '{"max_queue_delay_ms": 7}')
    assert code == 0 and '"max_queue_delay_ms": 7' in out, out


def test_the_cli_reports_a_rejected_upload_and_exits_nonzero(api_url, tmp_path):
    junk = tmp_path / "model.onnx"
    junk.write_bytes(os.urandom(512))
    code, out = run(api_url, "push", "junk", str(junk))
    assert code == 1 and "422" in out and "not a valid ONNX model" in out, out
    code, out = run("http://127.0.0.1:1", "list")
    assert code == 3 and "cannot reach the API" in out, out  # EXIT_UNREACHABLE
