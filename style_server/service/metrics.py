"""Prometheus metrics of one server instance (own registry, so tests can run several apps). The same names on an
API node of one host and on the workers and mailers of a scaled-out booth (``metrics_server``), so one dashboard
reads both."""

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
        self.claimed = Counter(
            "booth_jobs_claimed_total", "Jobs taken from the queue to paint", ["method"], registry=self.registry
        )
        self.queue_wait = Histogram(
            "booth_queue_wait_seconds",
            "From upload to the start of the pass that paints the job",
            ["method"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
        )
        self.paint_seconds = Histogram(
            "booth_paint_seconds",
            "Painting time of a finished job (a fast job: its whole batch's)",
            ["method"],
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
        )
        self.emails = Counter("booth_emails_total", "E-mail delivery attempts", ["outcome"], registry=self.registry)
        self.outbox_age = Gauge(
            "booth_outbox_age_seconds",
            "Since the job ended, of the oldest mail the outbox's last pass found due (0: none was due)",
            registry=self.registry,
        )
        self.outbox_passes = Counter(
            "booth_outbox_passes_total",
            "Passes of the outbox over the mails due (a pass ends once every send it began has ended)",
            registry=self.registry,
        )
        self.gpu_memory = Gauge("booth_gpu_memory_bytes", "GPU memory allocated by torch", registry=self.registry)
        self.previews_held = Gauge(
            "booth_previews_held", "Masterpiece previews (faces) in memory", registry=self.registry
        )
