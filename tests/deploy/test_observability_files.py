"""What ships beside the code for operators: the Prometheus alert rules and scrape config pass
promtool, each alert fires on the series it is for (promtool's rule unit tests), and every
metric the rules, the Grafana dashboard and the README name is one the code exports (and the
README names every one)."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from api.services.metrics import queue_families
from batching import metrics
from batching.queue_state import QueueState

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "maas-dashboard.json"
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
METRIC_NAME = re.compile(r"\bmaas_[a-z_]+\b")


def families() -> dict[str, str]:
    """Every metric family the code exports: name -> type."""
    found = {
        family.name: family.type
        for value in vars(metrics).values()
        if isinstance(value, MetricWrapperBase)
        for family in value.describe()
    }
    found |= {family.name: family.type for family in queue_families(QueueState([], [], {}, 0.0))}
    return found


def exported_series() -> set[str]:
    return {name + suffix for name, kind in families().items() for suffix in SUFFIXES.get(kind, ("",))}


def promtool(*args: str) -> None:
    done = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_and_scrape_config_pass_promtool():
    promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))
    promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))


def test_each_alert_fires_on_the_series_that_should_raise_it():
    """deploy/prometheus/alerts_test.yml: promtool's rule unit tests (series in, alerts out)."""
    promtool("test", "rules", str(PROMETHEUS / "alerts_test.yml"))


def alert_exprs() -> list[str]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


@pytest.mark.parametrize("exprs", [alert_exprs, dashboard_exprs], ids=["alerts", "dashboard"])
def test_every_expression_names_metrics_the_code_exports(exprs):
    exported = exported_series()
    named = [name for expr in exprs() for name in METRIC_NAME.findall(expr)]
    assert named
    assert sorted(set(named) - exported) == []


def test_the_readme_lists_every_metric():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Operating maas") :]
    assert sorted(name for name in families() if f"`{name}" not in section) == []
