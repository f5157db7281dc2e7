"""What `python -m bench.peer` measured, and the side-by-side table it prints (Markdown, as the
README quotes it)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.peer_workloads import Rounds
from bench.readings import pct


@dataclass
class Results:
    generate: Rounds | None = None
    edit: Rounds | None = None
    n4: Rounds | None = None
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)  # per gateway, per repetition
    burst_s: dict[str, list[float]] = field(default_factory=dict)  # per path, per repetition
    peak_mib: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Conditions:
    litellm: str
    image_mb: float
    input_mb: float
    latency_s: float
    cores: int


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def _adds(values: Sequence[float]) -> str:
    """A paired difference in ms: median [p25-p75]."""
    if not values:
        return "n/a"
    return f"{_median(values):+.1f} ms [{pct(values, 0.25):.0f}…{pct(values, 0.75):.0f}]"


def _ms(values: Sequence[float]) -> str:
    return f"{_median(values) * 1000:.0f} ms" if values else "n/a"


def _cpu(values: Sequence[float]) -> str:
    return f"{_median(values):.1f} ms" if values else "n/a"


def _ratios(rounds: Rounds, path: str) -> str:
    one = _median(rounds.last("direct"))
    return f"{_median(rounds.first(path)) / one:.2f} / {_median(rounds.last(path)) / one:.2f}"


def _burst(burst: dict[str, list[float]], path: str) -> str:
    added = [(a - d) * 1000 for a, d in zip(burst[path], burst["direct"], strict=True)]
    spread = f" [{min(added):.0f}…{max(added):.0f}]" if added else ""
    return f"{_median(added):+.0f} ms{spread}"


def rows(results: Results, conditions: Conditions) -> list[tuple[str, str, str, str]]:
    """(path, direct SDK, LiteLLM adds, visionstudio adds)."""
    out: list[tuple[str, str, str, str]] = []
    if (g := results.generate) is not None:
        peer = _adds(g.added_ms("LiteLLM", "direct"))
        out.append(
            (
                "n=1 generate, sequential, gRPC (`include_data`)",
                _ms(g.last("direct")),
                peer,
                _adds(g.added_ms("gRPC", "direct")),
            )
        )
        out.append(("the same over HTTP/JSON", "", peer, _adds(g.added_ms("HTTP/JSON", "direct"))))
    if (e := results.edit) is not None:
        out.append(
            (
                f"edit with a {conditions.input_mb:.1f} MB input, sequential, gRPC",
                _ms(e.last("direct")),
                _adds(e.added_ms("LiteLLM", "direct")),
                _adds(e.added_ms("gRPC", "direct")),
            )
        )
    if results.cpu_ms:
        ours = f"{_cpu(results.cpu_ms['gRPC'])} / {_cpu(results.cpu_ms['HTTP/JSON'])}"
        out.append(
            (
                "gateway CPU per image at 50 in flight (gRPC / HTTP)",
                "",
                _cpu(results.cpu_ms["LiteLLM"]),
                ours,
            )
        )
    if (n4 := results.n4) is not None:
        out.append(
            (
                "n=4: first / last image, x one image",
                "",
                _ratios(n4, "LiteLLM"),
                _ratios(n4, "gRPC"),
            )
        )
    if results.burst_s:
        out.append(
            (
                "100 calls at once, added p50 (small images, gRPC)",
                _ms(results.burst_s["direct"]),
                _burst(results.burst_s, "LiteLLM"),
                _burst(results.burst_s, "gRPC"),
            )
        )
    if results.peak_mib:
        peak = results.peak_mib
        out.append(
            ("peak RSS", "", f"{peak['LiteLLM']:.0f} MiB", f"{peak['visionstudio']:.0f} MiB")
        )
    return out


def render(results: Results, conditions: Conditions) -> str:
    lines = [
        f"LiteLLM {conditions.litellm} proxy beside visionstudio: photographic PNGs of "
        f"{conditions.image_mb:.1f} MB per image, upstream {conditions.latency_s * 1000:.0f} ms "
        f'per call, {conditions.cores} cores; "adds" is the median [p25…p75] of per-round '
        "differences from the direct call",
        "",
        "| path | direct SDK | LiteLLM adds | visionstudio adds |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(results, conditions)),
    ]
    if results.notes:
        lines += ["", "notes:", *(f"  {note}" for note in results.notes)]
    return "\n".join(lines)


def as_json(results: Results, conditions: Conditions) -> dict[str, Any]:
    return {
        "conditions": asdict(conditions),
        "rows": rows(results, conditions),
        "raw": {
            "generate": results.generate.arrivals if results.generate else None,
            "edit": results.edit.arrivals if results.edit else None,
            "n4": results.n4.arrivals if results.n4 else None,
            "cpu_ms": results.cpu_ms,
            "burst_s": results.burst_s,
            "peak_mib": results.peak_mib,
        },
        "notes": results.notes,
    }
