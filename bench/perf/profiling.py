"""The profile section: where the server's time goes at saturation, by cProfile (the event-loop
thread) or py-spy (every thread; `pip install py-spy` first)."""

from __future__ import annotations

import asyncio
import pstats
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.perf.config import CORES
from bench.perf.drivers import GrpcDriver, request
from bench.perf.phases import Phase, closed_loop
from bench.perf.report import Report
from bench.stack import ServerOptions, Stack, Upstream, processes

# Where a function lives, by its file (or, for builtins, its name), first match wins.
CATEGORIES = (
    ("visionstudio/", "ours (visionstudio)"),
    ("grpc", "grpc"),
    ("openai/", "openai SDK"),
    ("httpx", "HTTP client (httpx, httpcore, h11)"),
    ("httpcore", "HTTP client (httpx, httpcore, h11)"),
    ("h11", "HTTP client (httpx, httpcore, h11)"),
    ("anyio", "HTTP client (httpx, httpcore, h11)"),
    ("pydantic", "pydantic (SDK response models)"),
    ("PIL/", "Pillow"),
    ("aiosqlite", "job store (aiosqlite, sqlite3)"),
    ("sqlite3", "job store (aiosqlite, sqlite3)"),
    ("aiohttp", "aiohttp"),
    ("prometheus_client", "metrics"),
    ("logging", "logging"),
    ("pythonjsonlogger", "logging"),
    ("json", "json, base64"),
    ("base64", "json, base64"),
    ("binascii", "json, base64"),
    ("asyncio", "event loop (asyncio, uvloop, selectors)"),
    ("uvloop", "event loop (asyncio, uvloop, selectors)"),
    ("selectors", "event loop (asyncio, uvloop, selectors)"),
    ("epoll", "event loop (asyncio, uvloop, selectors)"),
    ("threading", "threads"),
    ("concurrent", "threads"),
    ("protobuf", "protobuf"),
)


def _category(where: str) -> str:
    return next((name for needle, name in CATEGORIES if needle in where), "other")


def _profile_rows(costs: Counter[str], total: float) -> list[dict[str, Any]]:
    return [
        {"where": where, "share": seconds / total if total else 0.0}
        for where, seconds in costs.most_common(20)
    ]


def _read_cprofile(path: Path) -> dict[str, Any]:
    stats = pstats.Stats(str(path))
    by_category: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, line, name), (_, _, tottime, _, _) in raw.items():
        where = filename if filename != "~" else name
        by_category[_category(where)] += tottime
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
        by_function[f"{name} ({short}:{line})" if short else name] += tottime
    total = sum(by_category.values())
    return {
        "profiler": "cProfile (event-loop thread only; self time)",
        "total_s": total,
        "by_category": _profile_rows(by_category, total),
        "top_functions": _profile_rows(by_function, total),
    }


def _read_pyspy(path: Path) -> dict[str, Any]:
    by_category: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    by_thread: Counter[str] = Counter()
    loop_thread: Counter[str] = Counter()  # what holds up the event loop
    for line in path.read_text().splitlines():
        stack, _, text = line.rpartition(" ")
        frames, count = stack.split(";"), int(text)
        leaf = frames[-1]
        by_thread[frames[0]] += count
        by_category[_category(leaf)] += count
        by_function[leaf] += count
        if "MainThread" in frames[0]:
            loop_thread[_category(leaf)] += count
    total = sum(by_category.values())
    return {
        "profiler": "py-spy (every thread; self samples)",
        "total_s": float(total),
        "by_category": _profile_rows(by_category, total),
        "top_functions": _profile_rows(by_function, total),
        "by_thread": _profile_rows(by_thread, total),
        "event_loop_thread_by_category": _profile_rows(loop_thread, total),
    }


def _pyspy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def _drive(report: Report, stack: Stack, spy: str | None, out: Path) -> Phase:
    """Saturates the server for `profile_s`, recorded by py-spy when `spy` is given (cProfile
    records the whole server process on its own)."""
    config = report.config
    streams = config.saturation_streams
    driver = GrpcDriver(stack.grpc_port, streams)
    plain = request(config)

    async def via_grpc() -> float:
        return (await driver.call(plain))[0]

    await closed_loop(via_grpc, streams, 1.0)
    recorder = None
    if spy is not None:
        recorder = await asyncio.create_subprocess_exec(
            *(spy, "record", "--pid", str(stack.server_pid), "--format", "raw"),
            *("--rate", "250", "--threads", "--nonblocking"),
            *("--duration", str(int(config.profile_s)), "-o", str(out)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    phase = await closed_loop(via_grpc, streams, config.profile_s)
    await driver.close()
    if recorder is not None:
        await asyncio.wait_for(recorder.wait(), 60)
    return phase


async def profile_section(report: Report) -> None:
    config = report.config
    upstream = Upstream(config.saturation_latency_s, photographic=config.photographic)
    use_pyspy = config.profiler == "py-spy"
    spy = _pyspy() if use_pyspy else None
    if use_pyspy and spy is None:
        report.notes.append("profile: py-spy is not installed (pip install py-spy); skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("profile.txt" if use_pyspy else "server.prof")
        options = ServerOptions(python_args=() if use_pyspy else ("-m", "cProfile", "-o", str(out)))
        with processes(upstream, options) as stack:
            phase = await _drive(report, stack, spy, out)
        profile = _read_pyspy(out) if use_pyspy else _read_cprofile(out)
    profile["images"] = len(phase.seconds)
    profile["conditions"] = {
        "image": config.image(),
        "upstream_latency_s": config.saturation_latency_s,
        "concurrent_streams": config.saturation_streams,
        "seconds": config.profile_s,
        "cores": CORES,
    }
    report.profile = profile
