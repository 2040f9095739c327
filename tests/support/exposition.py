"""Reading a /metrics answer in tests: one sample's value by name and labels, and promtool's
verdict on the whole exposition."""

import subprocess

import httpx
from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) -> value, for every sample of the exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """The sample's value; 0 when absent (a counter never incremented has no child)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def scrape(url: str) -> str:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text


def promtool_check_metrics(text: str) -> str:
    """promtool's lint of the exposition: its output, empty when clean."""
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr
