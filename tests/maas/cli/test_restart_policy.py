"""The supervisor's restart decision, without processes or a clock."""

from maas.cli.restarts import RestartPolicy

POLICY = RestartPolicy(max_restarts=3, window_s=60.0, backoff_s=0.5, backoff_max_s=1.5)


def test_the_backoff_doubles_with_each_recent_death_up_to_its_cap():
    assert POLICY.delay_s([100.0], 100.0) == 0.5
    assert POLICY.delay_s([90.0, 100.0], 100.0) == 1.0
    assert POLICY.delay_s([80.0, 90.0, 100.0], 100.0) == 1.5  # 2.0, capped


def test_one_death_more_than_max_restarts_within_the_window_gives_up():
    assert POLICY.delay_s([70.0, 80.0, 90.0, 100.0], 100.0) is None


def test_deaths_older_than_the_window_are_forgiven():
    assert POLICY.delay_s([10.0, 20.0, 30.0, 100.0], 100.0) == 0.5
    assert POLICY.recent([10.0, 50.0, 100.0], 100.0) == [50.0, 100.0]


def test_no_restarts_allowed_gives_up_at_the_first_death():
    assert RestartPolicy(0, 60.0, 0.5, 1.0).delay_s([100.0], 100.0) is None
