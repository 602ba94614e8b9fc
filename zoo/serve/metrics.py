"""What ``/metrics`` shows, in Prometheus' text format (prometheus-client): requests and errors by
route, model and status code, request latency, rows per model run (how well dynamic batching
batches), the time of each run, and each model's queue. One registry per server, so that two
servers in one process (tests) count apart."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The server's counters, histograms and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["route", "model", "code"]
        self.requests = Counter(
            "zoo_serve_requests",
            "HTTP requests answered, by route, model and status code.",
            labels,
            registry=self.registry,
        )
        self.errors = Counter(
            "zoo_serve_errors",
            "Requests answered with a status of 400 or more.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "zoo_serve_request_seconds",
            "Time from a request's arrival to its answer.",
            ["route", "model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "zoo_serve_batch_rows",
            "Rows in each run of a model (dynamic batching joins requests).",
            ["model"],
            buckets=ROW_BUCKETS,
            registry=self.registry,
        )
        self.run_seconds = Histogram(
            "zoo_serve_run_seconds",
            "Time of each run of a model, in its runtime.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue = Gauge(
            "zoo_serve_queue_depth",
            "Requests waiting for a run of the model.",
            ["model"],
            registry=self.registry,
        )
        self.held = Gauge(
            "zoo_serve_requests_held",
            "Requests a model holds (reading, waiting or running); --max-queue bounds it.",
            ["model"],
            registry=self.registry,
        )

    def answered(self, route: str, model: str, code: int, seconds: float) -> None:
        status = str(code)
        self.requests.labels(route, model, status).inc()
        if code >= 400:
            self.errors.labels(route, model, status).inc()
        self.latency.labels(route, model).observe(seconds)

    def observer(self, model: str) -> Callable[[int, float], None]:
        """What a model's batcher calls after each run."""
        rows, seconds = self.batch_rows.labels(model), self.run_seconds.labels(model)

        def observe(count: int, elapsed: float) -> None:
            rows.observe(count)
            seconds.observe(elapsed)

        return observe

    def watch(self, model: str, queued: Callable[[], int], held: Callable[[], int]) -> None:
        """Gauges read when scraped: a model's waiting and held requests."""
        self.queue.labels(model).set_function(queued)
        self.held.labels(model).set_function(held)

    def text(self) -> bytes:
        return generate_latest(self.registry)
