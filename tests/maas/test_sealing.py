"""The key ring and sealed values (maas.core.sealing): what seals opens only where it belongs."""

import base64

import pytest

from maas.cli.config import MASK, effective
from maas.core.sealing import CLEAR, MAGIC, Purpose, Sealer, SealError, new_ring_entry, parse_ring
from maas.core.settings import Settings

K1, K2 = new_ring_entry("k1"), new_ring_entry("k2")
DATA = b"MT1 some tensor payload"


def test_a_value_opens_for_its_own_purpose_job_and_tenant_only():
    sealer = Sealer.from_setting(K1)
    sealed = sealer.seal(Purpose.JOB_INPUTS, "job-a", "acme", DATA)
    assert sealed.startswith(MAGIC) and DATA not in sealed
    assert sealer.open(Purpose.JOB_INPUTS, "job-a", "acme", sealed) == DATA
    for purpose, job, tenant in [
        (Purpose.JOB_INPUTS, "job-b", "acme"),
        (Purpose.JOB_INPUTS, "job-a", "other"),
        (Purpose.JOB_OUTPUTS, "job-a", "acme"),
    ]:
        with pytest.raises(SealError, match="sealed for another job, tenant or field"):
            sealer.open(purpose, job, tenant, sealed)


def test_each_seal_has_its_own_nonce():
    sealer = Sealer.from_setting(K1)
    assert sealer.seal(Purpose.JOB_INPUTS, "j", "t", DATA) != sealer.seal(Purpose.JOB_INPUTS, "j", "t", DATA)


def test_an_altered_value_does_not_open():
    sealer = Sealer.from_setting(K1)
    sealed = bytearray(sealer.seal(Purpose.JOB_INPUTS, "j", "t", DATA))
    sealed[-1] ^= 1
    with pytest.raises(SealError, match="altered"):
        sealer.open(Purpose.JOB_INPUTS, "j", "t", bytes(sealed))
    with pytest.raises(SealError, match="truncated"):
        sealer.open(Purpose.JOB_INPUTS, "j", "t", bytes(sealed[:20]))


def test_rotation_the_first_key_seals_and_every_key_opens():
    old = Sealer.from_setting(K1).seal(Purpose.JOB_OUTPUTS, "j", "t", DATA)
    rotated = Sealer.from_setting(f"{K2},{K1}")
    assert rotated.open(Purpose.JOB_OUTPUTS, "j", "t", old) == DATA
    new = rotated.seal(Purpose.JOB_OUTPUTS, "j", "t", DATA)
    assert b"k2" in new[: len(MAGIC) + 4]
    with pytest.raises(SealError, match=r"data key 'k1', not in MAAS_DATA_KEYS \(k2\)"):
        Sealer.from_setting(K2).open(Purpose.JOB_OUTPUTS, "j", "t", old)


def test_without_keys_values_stay_clear_and_sealed_ones_say_why_they_do_not_open():
    assert CLEAR.seal(Purpose.JOB_INPUTS, "j", "t", DATA) == DATA
    assert Sealer.from_setting(K1).open(Purpose.JOB_INPUTS, "j", "t", DATA) == DATA  # written before keys
    sealed = Sealer.from_setting(K1).seal(Purpose.JOB_INPUTS, "j", "t", DATA)
    with pytest.raises(SealError, match=r"not in MAAS_DATA_KEYS \(none set\)"):
        CLEAR.open(Purpose.JOB_INPUTS, "j", "t", sealed)


def test_same_key_under_another_id_does_not_open_it():
    key = K1.split(":", 1)[1]
    sealed = Sealer.from_setting(K1).seal(Purpose.JOB_INPUTS, "j", "t", DATA)
    with pytest.raises(SealError, match="not in MAAS_DATA_KEYS"):
        Sealer.from_setting(f"other:{key}").open(Purpose.JOB_INPUTS, "j", "t", sealed)


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ("k1", "expected ID:BASE64"),
        ("bad id:AAAA", "expected ID:BASE64"),
        ("k1:not base64!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes, expected 32"),
        (f"{K1},{K1}", "appears twice"),
    ],
)
def test_a_malformed_ring_is_refused_without_showing_key_material(ring, message):
    with pytest.raises(ValueError, match=message):
        parse_ring(ring)
    with pytest.raises(ValueError) as refused:
        Settings(data_keys=ring)
    assert K1.split(":", 1)[1] not in str(refused.value)


def test_urlsafe_base64_keys_and_spaces_are_accepted():
    key = base64.urlsafe_b64encode(b"\xfb" * 32).decode()
    assert parse_ring(f" a:{key} , b:{base64.b64encode(bytes(32)).decode()} ") == [
        ("a", b"\xfb" * 32),
        ("b", bytes(32)),
    ]


def test_settings_keep_the_ring_out_of_their_repr():
    settings = Settings(data_keys=K1)
    assert K1 not in repr(settings)
    assert Settings(data_keys="").data_keys is None


def test_clear_names_an_empty_ring_on_purpose():
    assert parse_ring("clear") == []
    assert not Sealer.from_setting(Settings(data_keys="clear").data_keys).enabled


def test_maas_config_show_masks_the_keys():
    assert effective(Settings(data_keys=f"{K2},{K1}"))["data_keys"]["value"] == MASK
