"""`maas config show`: every effective setting with its source, secrets masked; and Settings
never echo a secret in their repr or their validation errors."""

import base64
import json

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from maas.cli.app import app
from maas.core.settings import Settings

TOKEN = "ops-token-0123456789abcdef"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"x" * 32).decode()
REDIS_URL = "rediss://alice:redis-pass-123@redis.internal:6380/0"
ENV = {
    "MAAS_ADMIN_TOKENS": json.dumps({"ops": TOKEN}),
    "MAAS_WEBHOOK_SECRETS": json.dumps([WEBHOOK_SECRET]),
    "MAAS_REDIS_URL": REDIS_URL,
    "MAAS_PORT": "9000",
}
SECRETS = (TOKEN, WEBHOOK_SECRET, "redis-pass-123")


def show(*args: str, env: dict[str, str] = ENV):
    return CliRunner().invoke(app, ["config", "show", *args], env=env)


def test_config_show_lists_every_setting_with_its_source_and_masks_secrets():
    result = show("--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert set(rows) == set(Settings.model_fields)
    assert rows["port"] == {"value": 9000, "source": "env MAAS_PORT"}
    assert rows["host"] == {"value": "127.0.0.1", "source": "default"}
    assert rows["admin_tokens"]["value"] == {"ops": "********"}  # the name shows, not the token
    assert rows["webhook_secrets"]["value"] == ["********"]
    assert rows["redis_url"]["value"] == "rediss://alice:***@redis.internal:6380/0"
    assert isinstance(rows["embedded_redis_maxmemory_mb"]["value"], int)
    assert not any(secret in result.output for secret in SECRETS)


def test_config_show_prints_one_line_per_setting():
    result = show()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(Settings.model_fields)
    assert any(line.split()[:2] == ["port", "9000"] and "(env MAAS_PORT)" in line for line in lines)
    assert not any(secret in result.output for secret in SECRETS)


def test_invalid_settings_are_named_without_their_values():
    result = show(env={**ENV, "MAAS_ADMIN_TOKENS": json.dumps({"ops": "short-secret"})})
    assert result.exit_code == 2
    assert "admin_tokens" in result.output and "shorter than 16 characters" in result.output
    assert "short-secret" not in result.output


def test_settings_keep_secrets_out_of_their_repr_and_errors():
    settings = Settings(admin_tokens={"ops": TOKEN}, webhook_secrets=[WEBHOOK_SECRET], redis_url=REDIS_URL)
    assert not any(secret in repr(settings) or secret in str(settings) for secret in SECRETS)
    with pytest.raises(ValidationError) as invalid:
        Settings(webhook_secrets=["whsec_not-base64!"], admin_tokens={"ops": "tiny-token"})
    assert "not-base64" not in str(invalid.value) and "tiny-token" not in str(invalid.value)
