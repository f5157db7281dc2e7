"""The figures a perf run collects, each with its conditions and target, and how they print."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.perf.config import CORES, Config


@dataclass(frozen=True)
class Target:
    op: str  # "<=" or ">="
    value: float

    def met(self, figure: float) -> bool:
        return figure <= self.value if self.op == "<=" else figure >= self.value


@dataclass
class Figure:
    section: str
    name: str
    unit: str
    values: list[float]  # one per repetition
    conditions: dict[str, Any]
    target: Target | None = None
    decimals: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "section": self.section,
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "min": min(self.values, default=float("nan")),
            "max": max(self.values, default=float("nan")),
            "values": self.values,
            "conditions": self.conditions,
        }
        if self.target is not None:
            out["target"] = f"{self.target.op} {self.target.value:g} {self.unit}".strip()
            out["target_met"] = self.target.met(self.median)
        return out


@dataclass
class Report:
    config: Config
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: dict[str, Any] | None = None

    def section(self, name: str, conditions: dict[str, Any]) -> Section:
        return Section(self, name, conditions)


@dataclass(frozen=True)
class Section:
    """Adds figures of one section measured under the same conditions."""

    report: Report
    name: str
    conditions: dict[str, Any]

    def add(
        self,
        name: str,
        unit: str,
        values: Iterable[float],
        target: Target | None = None,
        decimals: int = 1,
    ) -> None:
        figure = Figure(self.name, name, unit, list(values), self.conditions, target, decimals)
        self.report.figures.append(figure)


def _fmt(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _conditions_text(conditions: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in conditions.items())


def _figure_line(figure: Figure) -> str:
    d = figure.decimals
    spread = (
        f"[{_fmt(min(figure.values), d)}-{_fmt(max(figure.values), d)}]" if figure.values else ""
    )
    target = ""
    if figure.target is not None:
        mark = "met" if figure.target.met(figure.median) else "MISSED"
        target = f"target {figure.target.op} {figure.target.value:g} {mark}"
    return f"  {figure.name:58} {_fmt(figure.median, d):>9} {figure.unit:5} {spread:21} {target}"


def _profile_lines(profile: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"profile at saturation ({profile['profiler']}, {profile['images']} images): "
        + _conditions_text(profile["conditions"]),
    ]
    titles = ("by_category", "event_loop_thread_by_category", "top_functions", "by_thread")
    for title in titles:
        if title in profile:
            lines.append(f"  {title.replace('_', ' ')}:")
            lines += [f"    {row['share']:6.1%}  {row['where']}" for row in profile[title]]
    return lines


def render(report: Report) -> str:
    lines = [
        f"visionstudio performance: {report.config.repetitions} repetitions per figure, "
        "median [min-max]; targets are goals, not assertions",
    ]
    shown: tuple[str, str] | None = None
    for figure in report.figures:
        key = (figure.section, _conditions_text(figure.conditions))
        if key != shown:
            lines += ["", f"{figure.section}: {key[1]}"]
            shown = key
        lines.append(_figure_line(figure))
    if report.profile is not None:
        lines += _profile_lines(report.profile)
    if report.notes:
        lines += ["", "notes:", *(f"  {note}" for note in report.notes)]
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    return {
        "machine": {"cores": CORES, "python": sys.version.split()[0]},
        "config": report.config.__dict__,
        "figures": [figure.as_json() for figure in report.figures],
        "profile": report.profile,
        "notes": report.notes,
    }
