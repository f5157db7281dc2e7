"""Prometheus metrics, served on the HTTP port at /metrics. One registry per server instance."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from visionstudio.server.observability import gc_pauses

# Image calls take seconds to minutes upstream.
_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)


class _KeyPseudonyms:
    """Token usage labelled without revealing keys: /metrics is readable with any client key,
    and an unsalted hash of each key let every tenant see (and test guesses of) the others'.
    By default one series for all keys; per key only when asked, as HMACs under a secret made
    at start-up (ids change with each restart)."""

    def __init__(self, counter: Counter, per_key: bool) -> None:
        self._counter = counter
        self._secret = secrets.token_bytes(32) if per_key else None

    def labels(self, kind: str, key: str) -> Counter:
        if self._secret is None:
            return self._counter.labels(kind, "all")
        label = hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:16]
        return self._counter.labels(kind, label)


class Metrics:
    def __init__(self, *, per_key: bool = False) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Counter(
            "visionstudio_calls_total",
            "Finished calls by surface (grpc, http), method and status code.",
            ["surface", "method", "code"],
            registry=r,
        )
        self.call_seconds = Histogram(
            "visionstudio_call_duration_seconds",
            "Wall time of calls, from receipt to the last event.",
            ["surface", "method"],
            buckets=_SECONDS,
            registry=r,
        )
        self.images = Counter(
            "visionstudio_images_total",
            "Images stored and delivered, by operation.",
            ["operation"],
            registry=r,
        )
        self.upstream_requests = Counter(
            "visionstudio_upstream_requests_total",
            "Upstream image requests (each attempt), by outcome (ok or an error reason) and "
            "deployment.",
            ["outcome", "deployment"],
            registry=r,
        )
        self.upstream_retries = Counter(
            "visionstudio_upstream_retries_total",
            "Upstream requests retried, by the reason of the failure retried.",
            ["reason"],
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "visionstudio_upstream_request_duration_seconds",
            "Wall time of each upstream attempt.",
            buckets=_SECONDS,
            registry=r,
        )
        self.tokens = _KeyPseudonyms(
            Counter(
                "visionstudio_provider_tokens_total",
                "Tokens the provider charged, by kind (input_text, input_image, output) and "
                "key (`all`, or a per-process pseudonym with VISIONSTUDIO_METRICS_PER_KEY).",
                ["kind", "key"],
                registry=r,
            ),
            per_key,
        )
        self.in_flight = Gauge(
            "visionstudio_upstream_in_flight", "Upstream image calls running.", registry=r
        )
        self.budget_waiting = Gauge(
            "visionstudio_provider_budget_waiting",
            "Upstream calls waiting for the provider account's rate budget.",
            registry=r,
        )
        self.jobs_resumed = Counter(
            "visionstudio_jobs_resumed_total",
            "Jobs claimed after their owner's lease ran out (a crash or a hand-back), by what "
            "came of them: resumed, or ended (nothing left to make, or it cannot go on).",
            ["outcome"],
            registry=r,
        )
        self.queued = Gauge(
            "visionstudio_upstream_queued", "Admitted image calls waiting for a slot.", registry=r
        )
        gc_pauses.register(r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
