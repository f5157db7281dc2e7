"""The server's garbage-collector passes over a stretch of load, from its own
`visionstudio_gc_pause_seconds` histogram on /metrics (read before and after)."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from bench.stack import CLIENT_KEY, Stack

_PAUSES = "visionstudio_gc_pause_seconds"


@dataclass
class GcPasses:
    """Per generation: passes, their summed seconds, and cumulative counts per bucket bound."""

    count: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    buckets: dict[str, dict[float, float]] = field(default_factory=lambda: defaultdict(dict))

    def __sub__(self, before: GcPasses) -> GcPasses:
        diff = GcPasses()
        for gen, count in self.count.items():
            diff.count[gen] = count - before.count[gen]
            diff.seconds[gen] = self.seconds[gen] - before.seconds[gen]
            diff.buckets[gen] = {
                le: n - before.buckets[gen].get(le, 0.0) for le, n in self.buckets[gen].items()
            }
        return diff

    def longest_at_most_s(self, gen: str) -> float:
        """The smallest bucket bound every pass of `gen` fitted under (0 without passes)."""
        if not self.count[gen]:
            return 0.0
        return min(le for le, n in self.buckets[gen].items() if n >= self.count[gen])


def read_gc_passes(stack: Stack) -> GcPasses:
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.http_port}/metrics", headers={"x-api-key": CLIENT_KEY}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    passes = GcPasses()
    for family in text_string_to_metric_families(text):
        if family.name != _PAUSES:
            continue
        for sample in family.samples:
            gen = sample.labels["generation"]
            if sample.name.endswith("_count"):
                passes.count[gen] = sample.value
            elif sample.name.endswith("_sum"):
                passes.seconds[gen] = sample.value
            elif sample.name.endswith("_bucket"):
                passes.buckets[gen][float(sample.labels["le"])] = sample.value
    return passes
