"""Prometheus metrics of one server instance (own registry, so tests can run several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue_depth = Gauge("booth_queue_depth", "Jobs queued or running", ["method"], registry=self.registry)
        self.job_seconds = Histogram(
            "booth_job_seconds",
            "Job latency from upload to result",
            ["method"],
            registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
        )
        self.jobs = Counter("booth_jobs_total", "Finished jobs", ["method", "state"], registry=self.registry)
        self.emails = Counter("booth_emails_total", "E-mail delivery attempts", ["outcome"], registry=self.registry)
        self.gpu_memory = Gauge("booth_gpu_memory_bytes", "GPU memory allocated by torch", registry=self.registry)
        self.previews_held = Gauge(
            "booth_previews_held", "Masterpiece previews (faces) in memory", registry=self.registry
        )
