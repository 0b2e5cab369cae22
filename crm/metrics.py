"""Prometheus metrics (prometheus_client): what operations watch on a running minicrm.

Two kinds:
- Counted as things happen, in the process that served them: request latency by route,
  intakes by outcome, throttled requests, how long routing locks are held. Under gunicorn
  every worker is a process of its own; with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py
  sets it) each writes its samples to a file there and a scrape adds them up
  (prometheus_client's multiprocess mode). Recording one is a few microseconds: an mmap write.
- Read from the database at scrape time (`DatabaseCollector`): contacts waiting per source,
  each operator's load and capacity. They are facts of the database, not of one process, so
  they are computed once per scrape, by whichever worker answers it.

Label values come from fixed sets (URL names, outcomes, scopes), never from input, so the
number of series stays bounded."""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

# Request latency: the intake's p50 is a few ms, p99 under load tens to hundreds of ms.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A routing lock is held for a fraction of a millisecond to a bounded drain batch.
LOCK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

REQUEST_LATENCY = Histogram(
    "minicrm_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by view (its URL name), method and status.",
    ["view", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
INTAKES = Counter(
    "minicrm_intakes_total",
    "Contacts registered through the API, by outcome (assigned to an operator, or waiting), and idempotent replays.",
    ["outcome"],
)
THROTTLED = Counter("minicrm_throttled_requests_total", "Requests refused with 429, by throttle scope.", ["scope"])
LOCK_HOLD = Histogram(
    "minicrm_routing_lock_hold_seconds",
    "Time from taking a routing decision's operator locks to the end of its transaction, by kind "
    "(intake, or any other change).",
    ["kind"],
    buckets=LOCK_BUCKETS,
)


def intake_observed(*, assigned: bool, replayed: bool) -> None:
    INTAKES.labels("replayed" if replayed else ("assigned" if assigned else "waiting")).inc()


def throttled(scope: str) -> None:
    THROTTLED.labels(scope).inc()


def lock_hold_observed(*, kind: str, seconds: float) -> None:
    LOCK_HOLD.labels(kind).observe(seconds)


def request_observed(*, view: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(view, method, str(status)).observe(seconds)


class DatabaseCollector:
    """Gauges read from the database at scrape time."""

    def collect(self):
        from crm.selectors import metrics_operator_loads, metrics_waiting_by_source

        waiting = GaugeMetricFamily(
            "minicrm_waiting_contacts", "Open contacts without an operator, per source.", labels=["source"]
        )
        for source_name, n in metrics_waiting_by_source():
            waiting.add_metric([source_name], n)
        load = GaugeMetricFamily("minicrm_operator_open_contacts", "Open contacts per operator.", labels=["operator"])
        capacity = GaugeMetricFamily(
            "minicrm_operator_max_load", "Capacity (max_load) per operator.", labels=["operator"]
        )
        for operator_name, open_load, max_load in metrics_operator_loads():
            load.add_metric([operator_name], open_load)
            capacity.add_metric([operator_name], max_load)
        yield from (waiting, load, capacity)


def metrics_text() -> bytes:
    """The exposition of every metric: the counters of this process, or of all of gunicorn's
    workers in multiprocess mode, and the database gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUEST_LATENCY, INTAKES, THROTTLED, LOCK_HOLD):
            registry.register(collector)
    registry.register(DatabaseCollector())
    return generate_latest(registry)


class Stopwatch:
    """perf_counter at start; `.seconds` since."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
