"""Key records and tokens round-trip; rates, durations, scopes and the auth mode parse as the
README says (pure: no Redis)."""

import pytest

from batching.bulk.record import BulkFormat, BulkRecord, BulkStatus
from batching.jobs.record import JobRecord, JobStatus
from batching.tenancy import tokens
from batching.tenancy.record import KeyRecord, KeyState, key_public
from maas.core.access import AuthMode, Rate, Scope, auth_mode, parse_duration_s, parse_rate, parse_scopes
from maas.core.errors import InvalidInputError


def _raw(fields: dict) -> dict[bytes, bytes]:
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}


def test_a_key_record_round_trips_and_its_public_view_has_no_digest():
    record = KeyRecord(
        "0123456789abcdef",
        "acme",
        "ci",
        frozenset({Scope.JOBS_READ}),
        "d" * 64,
        1.5,
        99.0,
        None,
        "50/1s",
        10,
        2,
        3.0,
    )
    assert KeyRecord.from_fields(_raw(record.to_fields())) == record
    assert record.state(50.0) is KeyState.ACTIVE and record.state(99.0) is KeyState.EXPIRED
    assert record.revoked(10.0).state(20.0) is KeyState.REVOKED
    assert "d" * 64 not in str(key_public(record, 0.0))


def test_tokens_carry_their_id_and_only_the_right_secret_matches():
    key_id, token = tokens.new_token()
    assert token.startswith("maas_sk_") and tokens.key_id_of(token) == key_id
    stored = tokens.digest(b"server-secret", token)
    assert tokens.matches(b"server-secret", token, stored)
    assert not tokens.matches(b"other-secret", token, stored)
    assert not tokens.matches(b"server-secret", token[:-1] + ("A" if token[-1] != "A" else "B"), stored)
    assert tokens.key_id_of("maas_sk_short_x") is None and tokens.key_id_of(token + "x") is None


def test_job_and_bulk_records_keep_their_tenant_and_older_ones_are_default():
    job = JobRecord("J", JobStatus.QUEUED, "digits", 1, 1, 1.0, 2.0, tenant="acme")
    assert JobRecord.from_fields(_raw(job.to_fields())).tenant == "acme"
    older = {k: v for k, v in job.to_fields().items() if k != "tenant"}
    assert JobRecord.from_fields(_raw(older)).tenant == "default"
    bulk = BulkRecord(
        "B", BulkStatus.QUEUED, "digits", 1, BulkFormat.JSONL, "file:///x", 10, 1.0, tenant="acme"
    )
    assert BulkRecord.from_fields(_raw(bulk.to_fields())).tenant == "acme"


def test_rates_durations_and_scopes_parse():
    assert parse_rate("50/s") == Rate(50, 1) and parse_rate("100/10s") == Rate(100, 10)
    assert parse_rate("1000/m") == Rate(1000, 60) and parse_rate(str(Rate(7, 60))) == Rate(7, 60)
    assert parse_rate("0") is None
    assert parse_duration_s("30d") == 30 * 86400 and parse_duration_s("15m") == 900
    assert parse_scopes("jobs:read, models:read") == {Scope.JOBS_READ, Scope.MODELS_READ}
    for bad in (
        lambda: parse_rate("fast"),
        lambda: parse_duration_s("soon"),
        lambda: parse_scopes("jobs:all"),
    ):
        with pytest.raises(InvalidInputError):
            bad()


def test_auth_is_off_on_loopback_and_must_be_chosen_elsewhere():
    assert auth_mode(None, "127.0.0.1") is AuthMode.OFF and auth_mode(None, "::1") is AuthMode.OFF
    assert auth_mode(None, "localhost") is AuthMode.OFF
    assert auth_mode("off", "0.0.0.0") is AuthMode.OFF and auth_mode("keys", "0.0.0.0") is AuthMode.KEYS
    for host in ("0.0.0.0", "10.1.2.3", "example.com", "::"):
        with pytest.raises(ValueError, match="MAAS_AUTH"):
            auth_mode(None, host)
