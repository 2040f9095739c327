"""Deficit round robin across tenants: pure code, no Redis, no clock."""

from batching.fair_share import EVEN, FairShare


def drain(policy: FairShare, queues: dict[str, list[int]], budget: int, batches: int) -> list[dict[str, int]]:
    """Rows each tenant got in each of `batches` batches, carrying credit and rotation along."""
    queues = {t: list(q) for t, q in queues.items()}
    credit, first, rows_per_batch = {}, None, []
    for _ in range(batches):
        turn = policy.pick(queues, budget, credit, first)
        credit, first = turn.credit, turn.first
        got = {}
        for tenant, n in turn.taken.items():
            got[tenant] = sum(queues[tenant][:n])
            del queues[tenant][:n]
        rows_per_batch.append(got)
    return rows_per_batch


def test_a_tenant_alone_fills_the_batch():
    assert EVEN.pick({"a": [1] * 500}, 128).taken == {"a": 128}
    assert EVEN.pick({"a": [4] * 500}, 128).taken == {"a": 32}


def test_a_trickle_goes_into_the_next_batch_beside_a_flood():
    turn = EVEN.pick({"a": [1] * 20_000, "b": [1]}, 128)
    assert turn.taken == {"a": 127, "b": 1}


def test_two_flooding_tenants_share_each_batch_evenly():
    turn = EVEN.pick({"a": [1] * 500, "b": [1] * 500}, 128)
    assert turn.taken == {"a": 64, "b": 64}


def test_weights_share_rows_in_proportion():
    policy = FairShare(weights={"a": 2.0})
    batches = drain(policy, {"a": [1] * 5000, "b": [1] * 5000}, 90, 20)
    grain = 90 / 8  # a turn's credit: 8 turns per tenant per batch
    assert abs(sum(b["a"] for b in batches) - 1200) <= grain  # 2:1 over 20 batches of 90 rows
    assert all(abs(b["a"] - 60) <= grain for b in batches)  # and in each batch
    light = FairShare(weights={"b": 0.5})
    batches = drain(light, {"a": [1] * 5000, "b": [1] * 5000}, 30, 20)
    assert abs(sum(b["a"] for b in batches) - 400) <= 30 / 8


def test_jobs_of_different_sizes_get_equal_rows_over_many_batches():
    batches = drain(EVEN, {"big": [5] * 1000, "small": [1] * 1000}, 32, 40)
    big = sum(b.get("big", 0) for b in batches)
    small = sum(b.get("small", 0) for b in batches)
    assert abs(big - small) <= 5  # within one job of the big tenant
    assert all(sum(b.values()) >= 32 - 4 for b in batches)  # batches stay (nearly) full


def test_the_rotation_moves_on_between_batches():
    queues = {"a": [1] * 10, "b": [1] * 10, "c": [1] * 10}
    served = [next(iter(b)) for b in drain(EVEN, queues, 1, 6)]
    assert served == ["a", "b", "c", "a", "b", "c"]


def test_credit_is_not_saved_up_while_a_tenant_has_nothing_waiting():
    turn = EVEN.pick({"a": [1] * 100, "b": [3]}, 6)
    assert turn.taken == {"a": 3, "b": 1}
    assert "b" not in turn.credit  # its queue emptied: its leftover credit is dropped
    assert set(turn.credit) == {"a"}


def test_a_job_larger_than_the_budget_runs_alone():
    assert EVEN.pick({"a": [200, 1]}, 128).taken == {"a": 1}
    assert EVEN.pick({"a": [1] * 10, "b": [50]}, 8).taken == {"a": 8}  # b waits for a bigger budget


def test_nothing_waiting_picks_nothing():
    turn = EVEN.pick({"a": []}, 64)
    assert turn.jobs == 0 and turn.first is None
