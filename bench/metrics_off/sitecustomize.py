"""The baseline of bench/overhead.py: loaded at the start of every Python process of the `maas
serve` tree it runs in (this directory leads its PYTHONPATH), before maas imports anything, it
turns every prometheus-client update (a counter's inc, a histogram's observe, a gauge's set and a
label lookup) into a no-op. What is left is maas without the cost of its metrics: the request id
middleware, the queue gauges read at scrape time (no scrape runs during the bench) and the code
around the calls stay. Never installed: it exists only on this path, for the bench."""

from prometheus_client import metrics


def _nothing(self, *args, **kwargs) -> None:
    return None


def _same(self, *args, **kwargs):
    return self  # `.labels(...)` answers the metric itself, whose updates do nothing


for _cls, _names in (
    (metrics.Counter, ("inc",)),
    (metrics.Histogram, ("observe",)),
    (metrics.Gauge, ("inc", "dec", "set")),
    (metrics.Summary, ("observe",)),
):
    for _name in _names:
        setattr(_cls, _name, _nothing)
metrics.MetricWrapperBase.labels = _same  # type: ignore[method-assign]
