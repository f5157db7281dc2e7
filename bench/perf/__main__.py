"""`python -m bench.perf`: runs the chosen sections and prints the report (see bench/perf)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import bench.perf
from bench.perf.config import DEFAULT_SECTIONS, SECTIONS, SIZES, Config
from bench.perf.latency import latency_section
from bench.perf.memory import rss_section
from bench.perf.n4 import n4_section
from bench.perf.profiling import profile_section
from bench.perf.ratelimit import ratelimit_section
from bench.perf.report import Report, as_json, render
from bench.perf.saturation import saturation_section
from bench.stack import ServerOptions, Upstream, processes


async def _per_loop(report: Report, sections: Sequence[str]) -> None:
    """The sections run once per event loop: latency and saturation."""
    config = report.config
    for loop in config.loops:
        if "latency" in sections:
            upstream = Upstream(config.latency_s, photographic=config.photographic)
            options = ServerOptions(capacity=config.streams * 2, event_loop=loop)
            with processes(upstream, options) as stack:
                await latency_section(report, stack, loop)
        if "saturation" in sections:
            upstream = Upstream(config.saturation_latency_s, photographic=config.photographic)
            options = ServerOptions(capacity=config.saturation_streams * 2, event_loop=loop)
            with processes(upstream, options) as stack:
                await saturation_section(report, stack, loop)


async def _run(config: Config, sections: Sequence[str]) -> Report:
    report = Report(config)
    await _per_loop(report, sections)
    if "n4" in sections:
        upstream = Upstream(config.n4_latency_s, photographic=config.photographic)
        with processes(upstream) as stack:
            await n4_section(report, stack)
    if "rss" in sections:
        await rss_section(report)
    if "ratelimit" in sections:
        await ratelimit_section(report)
    if "profile" in sections:
        await profile_section(report)
    return report


def _csv(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    return lambda text: tuple(kind(part) for part in text.split(",") if part)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf",
        description=bench.perf.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--sections", type=_csv(str), default=DEFAULT_SECTIONS, help=f"any of {','.join(SECTIONS)}")
    add("--latency", type=float, default=5.0, help="upstream s/image (latency)")
    add("--n4-latency", type=float, default=2.0, help="upstream s/image (n4)")
    add("--aspect-ratio", choices=SIZES, default="1:1", help="image size asked for")
    add("--flat", action="store_true", help="flat ~50 KB images instead of ~1.5 MB photographic")
    add("--repetitions", type=int, default=3)
    add("--streams", type=int, default=100, help="concurrent streams (latency)")
    add("--rounds", type=int, default=3, help="calls per stream per repetition")
    add("--loops", type=_csv(str), default=("uvloop", "asyncio"))
    add("--saturation-s", type=float, default=6.0, help="seconds per repetition")
    add("--saturation-streams", type=int, default=64)
    add("--saturation-latency", type=float, default=0.05, help="upstream s/image")
    add("--rss-levels", type=_csv(int), default=(100, 1000, 5000))
    add("--rss-latency", type=float, default=90.0, help="upstream s/image (rss)")
    add("--rate-limit", type=int, default=120, help="upstream images/minute")
    add("--rate-s", type=float, default=70.0, help="seconds per repetition")
    add("--profile-s", type=float, default=15.0)
    add("--profiler", choices=("cprofile", "py-spy"), default="cprofile")
    add("--json", action="store_true", help="print JSON only")
    return parser


def _config(args: argparse.Namespace) -> Config:
    return Config(
        latency_s=args.latency,
        n4_latency_s=args.n4_latency,
        ratio=args.aspect_ratio,
        photographic=not args.flat,
        repetitions=args.repetitions,
        streams=args.streams,
        rounds=args.rounds,
        loops=args.loops,
        saturation_s=args.saturation_s,
        saturation_streams=args.saturation_streams,
        saturation_latency_s=args.saturation_latency,
        rss_levels=args.rss_levels,
        rss_latency_s=args.rss_latency,
        rate_images_per_minute=args.rate_limit,
        rate_s=args.rate_s,
        profile_s=args.profile_s,
        profiler=args.profiler,
    )


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    report = asyncio.run(_run(_config(args), args.sections))
    if not args.json:
        print(render(report))
    print(json.dumps(as_json(report)))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
