"""Workers and the API refuse the same runtimes: both apply maas.models.config.runtime_refusal."""

import pytest

from maas.core.errors import ModelLoadError
from maas.models.config import BUILTIN_RUNTIMES, runtime_refusal
from worker.runtimes.catalog import RUNTIMES, runtime_class


def test_the_catalog_serves_exactly_the_builtin_runtimes():
    assert set(RUNTIMES) == BUILTIN_RUNTIMES


@pytest.mark.parametrize("runtime", ["os:system", "tests.support.crash_runtime:CrashOnMarker"])
def test_a_worker_refuses_a_plugin_runtime_the_rule_refuses(runtime):
    refusal = runtime_refusal(runtime, allow_plugins=False)
    assert refusal is not None
    with pytest.raises(ModelLoadError, match="MAAS_ALLOW_PLUGIN_RUNTIMES"):
        runtime_class(runtime, allow_plugins=False)
    assert runtime_refusal(runtime, allow_plugins=True) is None
