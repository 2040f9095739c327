"""Job ids: the base32 digits are Crockford's, most significant first, whatever the value."""

import random

import pytest

from maas.core.ids import crockford, id_floor, is_job_id, new_job_id

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def digit_by_digit(value: int, digits: int) -> str:
    """The plain definition: one divmod per digit, from the least significant."""
    chars = []
    for _ in range(digits):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


@pytest.mark.parametrize("digits", [10, 26])
def test_two_digits_at_a_time_match_the_plain_definition(digits):
    rng = random.Random(7)
    values = [0, 1, 31, 32, 1023, 1024, 2 ** (digits * 5) - 1, 2 ** (digits * 5), 2**140 + 5]
    values += [rng.getrandbits(bits) for bits in (10, 48, 80, 128, 130, 135) for _ in range(200)]
    for value in values:
        assert crockford(value, digits) == digit_by_digit(value, digits), value


def test_a_job_id_starts_with_its_millisecond_prefix():
    now_s = 1_780_000_000.123
    job_id = new_job_id(now_s)
    assert is_job_id(job_id) and len(job_id) == 26
    assert job_id[:10] == id_floor(now_s) == digit_by_digit(int(now_s * 1000), 10)
