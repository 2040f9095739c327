"""Tracing unconfigured is off and free: no SDK is imported, no span is made, and a job's
traceparent is passed on unchanged."""

import subprocess
import sys

from maas.core import tracing
from tests.support.processes import REPO_ROOT, maas_env

PROBE = """
import sys
from maas.core import tracing
from maas.core.settings import Settings
from worker.batch import lane_loop  # the worker's hot path and everything it imports
from worker.webhooks import delivery
assert tracing.start(Settings(), "maas-worker") is False
assert not tracing.on()
# (redis-py imports the SDK's metrics by itself where the SDK is installed; never its tracing.)
loaded = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "maas.core.trace_export")
print(sorted(m for m in sys.modules if m.startswith(loaded)))
"""


def test_unconfigured_tracing_loads_no_sdk():
    env = {k: v for k, v in maas_env(None).items() if not k.startswith("OTEL_")}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


def test_off_a_job_span_passes_the_given_traceparent_on():
    assert not tracing.on()  # tests run without an exporter
    given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracing.submit_span(given) as kept:
        assert kept == given
    with tracing.submit_span("not a traceparent") as kept:
        assert kept is None
