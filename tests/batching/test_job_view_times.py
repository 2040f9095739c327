"""A job's times are written as datetime writes them (tests/api/test_job_view_schema.py checks
the rest of the view)."""

import random
from datetime import UTC, datetime

from batching.jobs.view import iso


def by_datetime(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


def test_times_read_as_datetime_writes_them():
    rng = random.Random(11)
    edges = [0.0, 1.0, 0.5e-6, 1.5e-6, 2.5e-6, 0.9999995, 0.9999994999, 1_780_000_000.0]
    edges += [1_780_000_000 + k / 1e6 + half for k in range(0, 1000, 37) for half in (0, 5e-7, -5e-7)]
    times = [rng.uniform(0, 4e9) for _ in range(50_000)] + [rng.uniform(1.7e9, 1.8e9) for _ in range(50_000)]
    times += [round(t, 3) for t in times[:10_000]] + [float(int(t)) for t in times[:1000]] + edges
    for epoch_s in times:
        assert iso(epoch_s) == by_datetime(epoch_s), repr(epoch_s)
    assert iso(None) is None
