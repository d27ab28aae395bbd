"""Prometheus metrics of one server (``GET /metrics``), in a registry of its own.

A registry per server, not the process-global one: tests start several
servers in one process, and each must count from zero.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from t2s.serve.batcher import BatchReport

# Latency buckets (s): a cache hit takes ~1 ms, a tiny-model generation
# ~0.1 s on 2 CPU cores, a 1B model on CPU tens of seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """The server's metrics.

    Args:
        queue_depth: Returns how many requests wait for generation now.
        cache_ratio: Returns the cache's hit ratio so far.
        adapters: Returns how many adapters are loaded.
    """

    def __init__(self, queue_depth: Callable[[], float], cache_ratio: Callable[[], float],
                 adapters: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram("t2s_request_latency_seconds", "Request latency by route and adapter",
                                 ["route", "adapter"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter("t2s_requests", "Requests by route and HTTP status",
                                ["route", "status"], registry=r)
        self.failures = Counter("t2s_failures", "Failed requests by error.kind", ["kind"],
                                registry=r)
        self.cache_hits = Counter("t2s_cache_hits", "Response cache hits", registry=r)
        self.cache_misses = Counter("t2s_cache_misses", "Response cache misses", registry=r)
        self.cache_hit_ratio = Gauge("t2s_cache_hit_ratio", "Cache hits over lookups", registry=r)
        self.cache_hit_ratio.set_function(cache_ratio)
        self.batch_size = Histogram("t2s_batch_size", "Requests per generate call",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.queue_wait = Histogram("t2s_queue_wait_seconds", "Longest wait of a batch's requests",
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.generated_tokens = Counter("t2s_generated_tokens", "Generated tokens", ["adapter"],
                                        registry=r)
        self.generation_seconds = Counter("t2s_generation_seconds", "Time spent in generate",
                                          ["adapter"], registry=r)
        self.tokens_per_second = Gauge("t2s_generation_tokens_per_second",
                                       "Generated tokens per second of the last batch", ["adapter"],
                                       registry=r)
        self.queue_depth = Gauge("t2s_queue_depth", "Requests waiting for generation", registry=r)
        self.queue_depth.set_function(queue_depth)
        self.adapters = Gauge("t2s_adapters_loaded", "Adapters loaded", registry=r)
        self.adapters.set_function(adapters)
        self.request_log_failures = Counter(
            "t2s_request_log_failures", "Request-log lines that could not be written "
            "(the request was still answered)", registry=r)

    def request(self, route: str, adapter: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.latency.labels(route, adapter).observe(seconds)
        self.requests.labels(route, str(status)).inc()

    def failure(self, kind: str) -> None:
        """Count one failure of ``kind`` (validation, generation, sql_parse, ...)."""
        self.failures.labels(kind).inc()

    def request_log_failure(self) -> None:
        """Count one request-log line lost to a failed write."""
        self.request_log_failures.inc()

    def cache(self, hit: bool) -> None:
        """Count one cache lookup."""
        (self.cache_hits if hit else self.cache_misses).inc()

    def batch(self, report: BatchReport) -> None:
        """Record one generate call."""
        self.batch_size.observe(report.size)
        self.queue_wait.observe(report.queue_wait_s)
        for adapter, tokens in report.tokens_by_adapter.items():
            # A mixed batch's time is shared out by rows: each adapter's rows
            # took part in every decoding step of the call.
            seconds = report.seconds * report.rows_by_adapter[adapter] / report.size
            self.generated_tokens.labels(adapter).inc(tokens)
            self.generation_seconds.labels(adapter).inc(seconds)
            if seconds > 0:
                self.tokens_per_second.labels(adapter).set(tokens / seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
