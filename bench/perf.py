"""Performance of the service against the same upstream called directly: a benchmark to trust.

Every section starts the loopback OpenAI-compatible upstream (a fixed latency per image) and the
real server, each in its own process, drives the server over real sockets and, in the same run,
calls the same upstream directly with the openai SDK, so each figure is also a ratio. Every
figure is measured in several repetitions; the median is quoted with the min-max spread, its
conditions (image, upstream latency, concurrency, cores, event loop) and the target beside it.
Targets are goals, not assertions: the exit status is 0 whatever the figures.

Sections (--sections, comma-separated; the default runs latency,n4,saturation,rss):
  latency     added latency p50/p99 over the direct call, n=1, with --streams concurrent
              streams: gRPC, gRPC with include_data, and the HTTP/JSON surface; event-loop lag
  n4          time to the first and the last of 4 images, in multiples of one image's latency
  saturation  images/s and server CPU seconds per image when the server is the bottleneck
  rss         server memory with 100, 1,000 and 5,000 streams waiting on a slow upstream
              (opened as fast as the server accepts them, hung up on after the reading)
  ratelimit   an upstream limited to N images/min offered 3x that by three API keys:
              utilisation, upstream 429s, 429s reaching callers, fairness between the keys
  profile     where the server's time goes at saturation: cProfile (the event-loop thread),
              or --profiler py-spy (every thread; `pip install py-spy` first)
latency and saturation run once per event loop in --loops (uvloop and asyncio by default).

Usage: python -m bench.perf [--sections latency,n4] [--latency 5] [--repetitions 3] [--json]
A full default run takes about 10 minutes on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import httpx2
import openai
from google.rpc import error_details_pb2, status_pb2
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from bench._harness import (
    CLIENT_KEY,
    MODEL,
    UPSTREAM_KEY,
    HealthProbe,
    Sample,
    ServerOptions,
    Stack,
    Upstream,
    cpu_seconds,
    pct,
    proc_status_kib,
    processes,
)

CORES = os.cpu_count() or 0
PROMPT = "a lighthouse at dawn"  # one prompt: the upstream renders it once and reuses the bytes
HTTP_PATH = "/api/v1/openai/image/generation/generate-image"
STREAMS_PER_CHANNEL = 250  # HTTP/2 streams per client connection
OPEN_WINDOW = 200  # streams opened but not yet accepted, at most (memory section)
MIB = 1024 * 1024
SECTIONS = ("latency", "n4", "saturation", "rss", "ratelimit", "profile")
DEFAULT_SECTIONS = ("latency", "n4", "saturation", "rss")
# The aspect ratios the upstream is asked for, as the server maps them for gpt-image-2.5-flare.
SIZES = {
    "1:1": (pb.ASPECT_RATIO_1_1, (1024, 1024)),
    "3:2": (pb.ASPECT_RATIO_3_2, (1536, 1024)),
    "2:3": (pb.ASPECT_RATIO_2_3, (1024, 1536)),
    "16:9": (pb.ASPECT_RATIO_16_9, (1280, 720)),
}
# Three API keys and the share of the offered load each sends in the ratelimit section.
RATE_KEYS = {"bench-key-a": 0.5, "bench-key-b": 0.25, "bench-key-c": 0.25}


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


@dataclass(frozen=True)
class Config:
    latency_s: float
    n4_latency_s: float
    ratio: str
    photographic: bool
    repetitions: int
    streams: int
    rounds: int
    loops: tuple[str, ...]
    saturation_s: float
    saturation_streams: int
    saturation_latency_s: float
    rss_levels: tuple[int, ...]
    rss_latency_s: float
    rate_images_per_minute: int
    rate_s: float
    profile_s: float
    profiler: str

    @property
    def size(self) -> tuple[int, int]:
        return SIZES[self.ratio][1]

    def image(self, photographic: bool | None = None) -> str:
        w, h = self.size
        grainy = self.photographic if photographic is None else photographic
        return f"{w}x{h} PNG, {'photographic (~1.5 MB)' if grainy else 'flat (~50 KB)'}"


@dataclass
class Report:
    config: Config
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: dict[str, Any] | None = None

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)


# --- calls -------------------------------------------------------------------------------------


class CallFailed(Exception):
    """A call that did not deliver; `kind` says how (a status code name, an upstream 429, ...)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _failure_kind(err: grpc.aio.AioRpcError) -> str:
    """The status code, or "upstream 429" when the provider's rate limit reached the caller."""
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        for detail in status_pb2.Status.FromString(value).details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.metadata.get("upstream_status") == "429":
                return "upstream 429"
    return err.code().name


def _channel_options() -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", 64 * MIB),
        # A connection of its own per channel (grpc would otherwise share one per target).
        ("grpc.use_local_subchannel_pool", 1),
    ]


class GrpcDriver:
    """GenerateImage calls spread over channels of STREAMS_PER_CHANNEL streams each."""

    def __init__(self, port: int, streams: int) -> None:
        self._channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=_channel_options())
            for _ in range(max(1, -(-streams // STREAMS_PER_CHANNEL)))
        ]
        self._stubs = [pb_grpc.ImageServiceStub(c) for c in self._channels]
        self._next = 0

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    def _stub(self) -> pb_grpc.ImageServiceAsyncStub:
        self._next += 1
        return self._stubs[self._next % len(self._stubs)]

    async def call(
        self,
        request: pb.GenerateImageRequest,
        *,
        key: str = CLIENT_KEY,
        timeout_s: float = 120.0,
        accepted: Callable[[], None] | None = None,
    ) -> list[float]:
        """Seconds from the call's start to each image; raises CallFailed."""
        started = time.perf_counter()
        arrivals: list[float] = []
        call = self._stub().GenerateImage(
            request, metadata=(("x-api-key", key),), timeout=timeout_s
        )
        try:
            async for event in call:
                kind = event.WhichOneof("event")
                if kind == "image":
                    arrivals.append(time.perf_counter() - started)
                elif kind == "accepted" and accepted is not None:
                    accepted()
        except grpc.aio.AioRpcError as err:
            raise CallFailed(_failure_kind(err)) from None
        if len(arrivals) != max(1, request.number_of_images):
            raise CallFailed(f"{len(arrivals)} of {request.number_of_images} images")
        return arrivals


def _request(config: Config, n: int = 1, include_data: bool = False) -> pb.GenerateImageRequest:
    return pb.GenerateImageRequest(
        prompt=PROMPT,
        number_of_images=n,
        aspect_ratio=SIZES[config.ratio][0],
        include_data=include_data,
    )


class DirectDriver:
    """The same upstream through the openai SDK, as the server calls it (n=1, same size)."""

    def __init__(self, base_url: str, config: Config, connections: int) -> None:
        http = openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(
                max_connections=max(1000, connections),
                max_keepalive_connections=max(100, connections),
            )
        )
        self._sdk = openai.AsyncOpenAI(
            api_key=UPSTREAM_KEY, base_url=base_url, max_retries=0, http_client=http
        )
        w, h = config.size
        self._size = f"{w}x{h}"

    async def close(self) -> None:
        await self._sdk.close()

    async def call(self) -> float:
        started = time.perf_counter()
        try:
            result = await self._sdk.images.generate(
                model=MODEL,
                prompt=PROMPT,
                n=1,
                size=self._size,
                quality="auto",
                output_format="png",
            )
        except openai.APIError as exc:
            raise CallFailed(type(exc).__name__) from None
        if not result.data or not result.data[0].b64_json:
            raise CallFailed("no image")
        return time.perf_counter() - started


class HttpDriver:
    """The reference HTTP/JSON route: one POST per call, answered once the image is stored."""

    def __init__(self, port: int, config: Config, connections: int) -> None:
        self._url = f"http://127.0.0.1:{port}{HTTP_PATH}"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections), headers={"X-API-Key": CLIENT_KEY}
        )
        self._body = {"prompt": PROMPT, "number_of_images": 1, "aspect_ratio": config.ratio}

    async def close(self) -> None:
        await self._session.close()

    async def call(self) -> float:
        started = time.perf_counter()
        try:
            async with self._session.post(self._url, json=self._body) as resp:
                body = await resp.json()
        except aiohttp.ClientError as exc:
            raise CallFailed(type(exc).__name__) from None
        if resp.status != 200 or not body.get("success") or len(body["data"]["images"]) != 1:
            raise CallFailed(f"HTTP {resp.status}")
        return time.perf_counter() - started


@dataclass
class Phase:
    """What one stretch of load produced."""

    seconds: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0  # time.monotonic, comparable with the health probe's samples
    ended: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # per process over the phase

    @property
    def wall_s(self) -> float:
        return self.ended - self.started


class CpuMeter:
    def __init__(self, stack: Stack) -> None:
        self._pids = {
            "server": stack.server_pid,
            "upstream": stack.upstream_pid,
            "load generator": os.getpid(),
        }
        self._before = {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    def read(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self._before[name] for name, pid in self._pids.items()}


async def _staggered(
    call: Callable[[], Awaitable[float]],
    streams: int,
    rounds: int,
    spread_s: float,
    offset: float = 0.0,
) -> Phase:
    """`streams` callers, each making `rounds` calls back to back, their first calls spread
    evenly over `spread_s` so that calls arrive at a steady rate instead of in bursts.
    `offset` (a fraction of one caller's slot) keeps groups of callers running side by side
    from starting, and so being answered, at the same instants."""
    phase = Phase()

    async def caller(index: int) -> None:
        await asyncio.sleep(spread_s * (index + offset) / streams)
        for _ in range(rounds):
            try:
                phase.seconds.append(await call())
            except CallFailed as failed:
                phase.errors[failed.kind] += 1

    phase.started = time.monotonic()
    await asyncio.gather(*(caller(i) for i in range(streams)))
    phase.ended = time.monotonic()
    return phase


async def _closed_loop(call: Callable[[], Awaitable[float]], streams: int, seconds: float) -> Phase:
    """`streams` callers calling back to back until `seconds` have passed."""
    phase = Phase()
    deadline = time.monotonic() + seconds

    async def caller() -> None:
        while time.monotonic() < deadline:
            try:
                phase.seconds.append(await call())
            except CallFailed as failed:
                phase.errors[failed.kind] += 1

    phase.started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(streams)))
    phase.ended = time.monotonic()
    return phase


def _lag(samples: Sequence[Sample], start: float, end: float) -> tuple[float, float, float]:
    """Health-check time under load above the idle median: p50, p99, max (ms)."""
    idle = [s for t, s in samples if t < start and s is not None]
    loaded = [s for t, s in samples if start <= t < end and s is not None]
    if not idle or not loaded:
        return (float("nan"),) * 3
    base = statistics.median(idle)
    return (
        (statistics.median(loaded) - base) * 1000,
        (pct(loaded, 0.99) - base) * 1000,
        (max(loaded) - base) * 1000,
    )


def _no_errors(report: Report, what: str, phases: Iterable[Phase]) -> None:
    errors: Counter[str] = Counter()
    for phase in phases:
        errors.update(phase.errors)
    if errors:
        report.notes.append(f"{what}: failed calls {dict(errors)}")


# --- sections ----------------------------------------------------------------------------------


async def _latency_section(report: Report, stack: Stack, loop: str) -> None:
    """Added latency with `streams` concurrent streams through the server (shared evenly by
    gRPC, gRPC include_data and HTTP/JSON) while as many streams call the upstream directly at
    the same time: both paths see the same machine at the same moment."""
    config = report.config
    grpc_driver = GrpcDriver(stack.grpc_port, config.streams)
    direct = DirectDriver(stack.upstream_url, config, config.streams)
    http = HttpDriver(stack.http_port, config, config.streams)
    plain, with_data = _request(config), _request(config, include_data=True)

    async def via_grpc() -> float:
        return (await grpc_driver.call(plain))[0]

    async def via_grpc_data() -> float:
        return (await grpc_driver.call(with_data))[0]

    variants: dict[str, Callable[[], Awaitable[float]]] = {
        "gRPC": via_grpc,
        "gRPC include_data": via_grpc_data,
        "HTTP/JSON": http.call,
    }
    share = config.streams // len(variants)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    lag: list[tuple[float, float, float]] = []
    phases: list[Phase] = []
    spread = config.latency_s
    try:
        # Warm every connection and pool (and the upstream's cached image) before timing.
        for call in (direct.call, *variants.values()):
            await _staggered(call, share, 1, 0.0)
        for _ in range(config.repetitions):
            with HealthProbe(stack.grpc_port) as probe:
                await asyncio.sleep(1.0)  # the probe's idle baseline
                # Interleaved: the upstream answers calls in the order they came, and calls
                # started together would be answered (and handled) one after the other.
                groups = len(variants)
                baseline, *measured = await asyncio.gather(
                    _staggered(direct.call, config.streams, config.rounds, spread, 0.5),
                    *(
                        _staggered(call, share, config.rounds, spread, g / groups)
                        for g, call in enumerate(variants.values())
                    ),
                )
            lag.append(_lag(probe.samples, baseline.started, baseline.ended))
            phases += [baseline, *measured]
            for name, phase in zip(variants, measured, strict=True):
                results[name].append(
                    (
                        (statistics.median(phase.seconds) - statistics.median(baseline.seconds))
                        * 1000,
                        (pct(phase.seconds, 0.99) - pct(baseline.seconds, 0.99)) * 1000,
                        statistics.median(phase.seconds) / statistics.median(baseline.seconds),
                    )
                )
        _no_errors(report, f"latency ({loop})", phases)
    finally:
        await grpc_driver.close()
        await direct.close()
        await http.close()
    conditions = {
        "image": config.image(),
        "upstream_latency_s": config.latency_s,
        "streams_through_server": config.streams,
        "split": " / ".join(f"{share} {name}" for name in variants),
        "direct_streams_alongside": config.streams,
        "calls_per_stream": config.rounds,
        "cores": CORES,
        "event_loop": loop,
    }
    section = "added latency"
    for name, runs in results.items():
        label = f"{name}, {loop}"
        report.add(
            Figure(
                section,
                f"added p50 over direct SDK call, {label}",
                "ms",
                [r[0] for r in runs],
                conditions,
                Target("<=", 3.0),
            )
        )
        report.add(
            Figure(
                section,
                f"added p99 over direct SDK call, {label}",
                "ms",
                [r[1] for r in runs],
                conditions,
                Target("<=", 15.0),
            )
        )
        report.add(
            Figure(
                section,
                f"p50 ratio to direct, {label}",
                "x",
                [r[2] for r in runs],
                conditions,
                decimals=3,
            )
        )
    lag_conditions = conditions | {
        "measured_as": "health check time minus its idle median, during the phase above"
    }
    for i, which in enumerate(("p50", "p99", "max")):
        report.add(
            Figure(
                "event-loop lag",
                f"lag {which}, {config.streams} streams, {loop}",
                "ms",
                [entry[i] for entry in lag],
                lag_conditions,
            )
        )


async def _n4_section(report: Report, stack: Stack) -> None:
    config = report.config
    runs = 3
    conditions = {
        "image": config.image(),
        "upstream_latency_s": config.n4_latency_s,
        "concurrent_streams": 1,
        "calls_per_repetition": runs,
        "cores": CORES,
        "one_image": "median direct SDK call (n=1) of the same repetition",
    }
    grpc_driver = GrpcDriver(stack.grpc_port, 1)
    direct = DirectDriver(stack.upstream_url, config, 1)
    four = _request(config, n=4)
    first: list[float] = []
    last: list[float] = []
    try:
        await direct.call()
        await grpc_driver.call(four)
        for _ in range(config.repetitions):
            one = statistics.median([await direct.call() for _ in range(runs)])
            arrivals = [await grpc_driver.call(four) for _ in range(runs)]
            first.append(statistics.median(a[0] for a in arrivals) / one)
            last.append(statistics.median(a[-1] for a in arrivals) / one)
    except CallFailed as failed:
        report.notes.append(f"n4: a call failed ({failed.kind})")
    finally:
        await grpc_driver.close()
        await direct.close()
    section = "n=4 images"
    report.add(
        Figure(
            section,
            "first image, x one image's latency",
            "x",
            first,
            conditions,
            Target("<=", 1.1),
            3,
        )
    )
    report.add(
        Figure(
            section,
            "last image, x one image's latency",
            "x",
            last,
            conditions,
            Target("<=", 1.3),
            3,
        )
    )


async def _saturation_section(report: Report, stack: Stack, loop: str) -> None:
    config = report.config
    streams = config.saturation_streams
    conditions = {
        "image": config.image(),
        "upstream_latency_s": config.saturation_latency_s,
        "concurrent_streams": streams,
        "seconds_per_repetition": config.saturation_s,
        "cores": CORES,
        "event_loop": loop,
        "note": "server, upstream and load generator share the cores",
    }
    grpc_driver = GrpcDriver(stack.grpc_port, streams)
    direct = DirectDriver(stack.upstream_url, config, streams)
    plain = _request(config)

    async def via_grpc() -> float:
        return (await grpc_driver.call(plain))[0]

    rates: list[float] = []
    cpu_per_image: list[float] = []
    server_cores: list[float] = []
    direct_rates: list[float] = []
    lag: list[float] = []
    phases: list[Phase] = []
    try:
        await _closed_loop(via_grpc, streams, 1.0)
        await _closed_loop(direct.call, streams, 1.0)
        for _ in range(config.repetitions):
            # The upstream alone, as fast as this load generator drives it: the ceiling.
            baseline = await _closed_loop(direct.call, streams, config.saturation_s / 2)
            direct_rates.append(len(baseline.seconds) / baseline.wall_s)
            with HealthProbe(stack.grpc_port) as probe:
                await asyncio.sleep(1.0)
                meter = CpuMeter(stack)
                phase = await _closed_loop(via_grpc, streams, config.saturation_s)
                phase.cpu_s = meter.read()
            phases.append(phase)
            done = max(1, len(phase.seconds))
            rates.append(len(phase.seconds) / phase.wall_s)
            cpu_per_image.append(phase.cpu_s["server"] / done * 1000)
            server_cores.append(phase.cpu_s["server"] / phase.wall_s)
            lag.append(_lag(probe.samples, phase.started, phase.ended)[1])
        _no_errors(report, f"saturation ({loop})", phases)
    finally:
        await grpc_driver.close()
        await direct.close()
    section = "saturation"
    report.add(Figure(section, f"images/s through the server, {loop}", "1/s", rates, conditions))
    report.add(
        Figure(
            section, f"images/s direct to the upstream, {loop} run", "1/s", direct_rates, conditions
        )
    )
    report.add(
        Figure(
            section,
            f"throughput ratio server/direct, {loop}",
            "x",
            [r / d for r, d in zip(rates, direct_rates, strict=True)],
            conditions,
            decimals=2,
        )
    )
    report.add(
        Figure(
            section,
            f"server CPU per image (utime+stime), {loop}",
            "ms",
            cpu_per_image,
            conditions,
            decimals=2,
        )
    )
    report.add(
        Figure(section, f"server CPU in use, {loop}", "cores", server_cores, conditions, decimals=2)
    )
    report.add(Figure(section, f"event-loop lag p99 at saturation, {loop}", "ms", lag, conditions))


async def _wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.2)
    return check()


@dataclass
class RssLevel:
    all_waiting: bool  # every stream was accepted and waiting upstream at one moment
    open_s: float
    rss_waiting_mib: float
    peak_mib: float
    errors: Counter[str]


async def _rss_level(stack: Stack, config: Config, streams: int) -> RssLevel:
    """Opens `streams` streams, at most OPEN_WINDOW of them not yet accepted at any moment (a
    larger burst of new streams is partly CANCELLED by grpc before the server sees it); reads
    the server's memory once all wait upstream, then hangs up (the server, told not to detach
    jobs, cancels their upstream calls) and waits until the upstream is idle again."""
    driver = GrpcDriver(stack.grpc_port, streams)
    request = _request(config)
    window = asyncio.Semaphore(OPEN_WINDOW)
    accepted = 0
    errors: Counter[str] = Counter()

    def on_accepted() -> None:
        nonlocal accepted
        accepted += 1
        window.release()

    async def one() -> None:
        try:
            timeout_s = config.rss_latency_s * 2
            await driver.call(request, timeout_s=timeout_s, accepted=on_accepted)
        except CallFailed as failed:
            errors[failed.kind] += 1
            window.release()

    def all_waiting() -> bool:
        failed = sum(errors.values())
        return accepted + failed >= streams and (
            stack.upstream_stats()["in_flight"] >= streams - failed
        )

    tasks: list[asyncio.Task[None]] = []
    try:
        started = time.monotonic()
        for _ in range(streams):
            await window.acquire()
            tasks.append(asyncio.create_task(one()))
        waiting = await _wait_until(
            all_waiting, config.rss_latency_s - (time.monotonic() - started)
        )
        open_s = time.monotonic() - started
        rss_waiting = proc_status_kib(stack.server_pid, "VmRSS")
        peak = proc_status_kib(stack.server_pid, "VmHWM")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await driver.close()
    await _wait_until(lambda: stack.upstream_stats()["in_flight"] == 0, 60)
    return RssLevel(waiting, open_s, rss_waiting / 1024, peak / 1024, errors)


async def _rss_section(report: Report) -> None:
    config = report.config
    levels = config.rss_levels
    runs: dict[int, list[RssLevel]] = {level: [] for level in levels}
    idle: list[float] = []
    for _ in range(config.repetitions):
        # No image is delivered (the streams are hung up on), so the flat ones do.
        upstream = Upstream(config.rss_latency_s, photographic=False)
        # Not detached: a stream the benchmark hangs up on takes its upstream call with it.
        options = ServerOptions(capacity=max(levels), env={"VISIONSTUDIO_DETACH_JOBS": "false"})
        with processes(upstream, options) as stack:
            await asyncio.sleep(1.0)
            idle.append(proc_status_kib(stack.server_pid, "VmRSS") / 1024)
            for level in levels:
                runs[level].append(await _rss_level(stack, config, level))
    section = "memory"
    base = {
        "image": config.image(photographic=False),
        "upstream_latency_s": config.rss_latency_s,
        "cores": CORES,
        "event_loop": "uvloop",
        "levels": "ascending in one server process per repetition, hung up after reading",
    }
    report.add(Figure(section, "server RSS idle", "MiB", idle, base, decimals=0))
    for level in levels:
        results = runs[level]
        conditions = base | {"concurrent_streams": level}
        target = Target("<=", 1024.0) if level >= 5000 else None
        report.add(
            Figure(
                section,
                f"RSS with {level} streams waiting",
                "MiB",
                [r.rss_waiting_mib for r in results],
                conditions,
                target,
                0,
            )
        )
        report.add(
            Figure(
                section,
                f"peak RSS (VmHWM) so far, {level} streams",
                "MiB",
                [r.peak_mib for r in results],
                conditions,
                decimals=0,
            )
        )
        report.add(
            Figure(
                section,
                f"KiB per waiting stream, {level} streams",
                "KiB",
                [
                    (r.rss_waiting_mib - i) * 1024 / level
                    for r, i in zip(results, idle, strict=True)
                ],
                conditions,
                decimals=0,
            )
        )
        report.add(
            Figure(
                section,
                f"seconds to open {level} streams",
                "s",
                [r.open_s for r in results],
                conditions,
            )
        )
        report.add(
            Figure(
                section,
                f"failed streams of {level}",
                "",
                [float(sum(r.errors.values())) for r in results],
                conditions,
                Target("<=", 0.0),
                0,
            )
        )
        for r in results:
            if r.errors:
                report.notes.append(f"memory: {level} streams: failed calls {dict(r.errors)}")
        if not all(r.all_waiting for r in results):
            report.notes.append(
                f"memory: not all {level} streams were waiting upstream at once in every "
                "repetition (raise --rss-latency)"
            )


@dataclass
class RateRun:
    served_in_window: int = 0
    upstream_429: int = 0
    delivered: Counter[str] = field(default_factory=Counter)  # per key, within the window
    errors: Counter[str] = field(default_factory=Counter)


async def _rate_run(stack: Stack, config: Config, window_start: float) -> RateRun:
    run = RateRun()
    offered_per_s = 3 * config.rate_images_per_minute / 60
    driver = GrpcDriver(stack.grpc_port, 100)
    request = _request(config)
    began = time.monotonic()

    async def one(key: str) -> None:
        try:
            await driver.call(request, key=key, timeout_s=config.rate_s)
        except CallFailed as failed:
            run.errors[failed.kind] += 1
            return
        if time.monotonic() - began >= window_start:
            run.delivered[key] += 1

    async def offer(key: str, share: float) -> list[asyncio.Task[None]]:
        """Calls at a steady rate until the end of the run."""
        interval = 1 / (offered_per_s * share)
        tasks = []
        at = began
        while at < began + config.rate_s:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            tasks.append(asyncio.create_task(one(key)))
            at += interval
        return tasks

    async def window() -> None:
        await asyncio.sleep(window_start)
        start = stack.upstream_stats()
        await asyncio.sleep(config.rate_s - window_start)
        end = stack.upstream_stats()
        run.served_in_window = end["served_images"] - start["served_images"]
        run.upstream_429 = end["rate_limited"]

    offers = [offer(key, share) for key, share in RATE_KEYS.items()]
    offered, _ = await asyncio.gather(asyncio.gather(*offers), window())
    for tasks in offered:
        for task in tasks:
            task.cancel()  # calls still waiting when the run ends are not counted
    await asyncio.gather(*(t for tasks in offered for t in tasks), return_exceptions=True)
    await driver.close()
    return run


async def _ratelimit_section(report: Report) -> None:
    """Offers 3x the upstream's image limit for `rate_s`; measures over the second half, when
    the upstream's initial minute of burst is spent."""
    config = report.config
    limit = config.rate_images_per_minute
    window_start = config.rate_s / 2
    upstream = Upstream(config.latency_s, photographic=config.photographic, images_per_minute=limit)
    runs: list[RateRun] = []
    for _ in range(config.repetitions):
        # The server is told the upstream's limit (its provider budget) and queues the rest.
        options = ServerOptions(
            keys=tuple(RATE_KEYS),
            capacity=1000,
            env={"VISIONSTUDIO_PROVIDER_IMAGES_PER_MINUTE": str(limit)},
        )
        with processes(upstream, options) as stack:
            runs.append(await _rate_run(stack, config, window_start))
    utilisation, fairness = [], []
    for run in runs:
        utilisation.append(run.served_in_window / (limit * (config.rate_s - window_start) / 60))
        values = [run.delivered[key] for key in RATE_KEYS]
        fairness.append(sum(values) ** 2 / (len(values) * (sum(v * v for v in values) or 1)))
        report.notes.append(f"ratelimit: caller-visible failures {dict(run.errors)}")
    conditions = {
        "image": config.image(),
        "upstream_latency_s": config.latency_s,
        "upstream_images_per_minute": limit,
        "server_budget_images_per_minute": limit,
        "offered_images_per_minute": 3 * limit,
        "offered_share_per_key": RATE_KEYS,
        "seconds": config.rate_s,
        "window": f"last {config.rate_s - window_start:g} s (the upstream's burst spent)",
        "cores": CORES,
    }
    section = "upstream rate limit"
    report.add(
        Figure(
            section,
            "utilisation of the upstream limit",
            "%",
            [u * 100 for u in utilisation],
            conditions,
            Target(">=", 95.0),
        )
    )
    upstream_429 = [float(run.upstream_429) for run in runs]
    report.add(
        Figure(section, "upstream 429s (whole run)", "", upstream_429, conditions, decimals=0)
    )
    reaching = [float(run.errors["upstream 429"]) for run in runs]
    report.add(
        Figure(
            section, "upstream 429s reaching callers", "", reaching, conditions, Target("<=", 0), 0
        )
    )
    report.add(
        Figure(
            section,
            "Jain fairness over the keys' deliveries (1 = equal)",
            "",
            fairness,
            conditions,
            Target(">=", 0.95),
            3,
        )
    )
    for key in RATE_KEYS:
        shares = [run.delivered[key] / (sum(run.delivered.values()) or 1) for run in runs]
        report.add(
            Figure(section, f"share of images delivered, {key}", "", shares, conditions, decimals=3)
        )


# --- profile -----------------------------------------------------------------------------------

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


async def _profile_section(report: Report) -> None:
    config = report.config
    upstream = Upstream(config.saturation_latency_s, photographic=config.photographic)
    streams = config.saturation_streams
    use_pyspy = config.profiler == "py-spy"
    spy = _pyspy() if use_pyspy else None
    if use_pyspy and spy is None:
        report.notes.append("profile: py-spy is not installed (pip install py-spy); skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("profile.txt" if use_pyspy else "server.prof")
        options = ServerOptions(python_args=() if use_pyspy else ("-m", "cProfile", "-o", str(out)))
        with processes(upstream, options) as stack:
            driver = GrpcDriver(stack.grpc_port, streams)
            plain = _request(config)

            async def via_grpc() -> float:
                return (await driver.call(plain))[0]

            await _closed_loop(via_grpc, streams, 1.0)
            recorder = None
            if spy is not None:
                recorder = await asyncio.create_subprocess_exec(
                    *(spy, "record", "--pid", str(stack.server_pid), "--format", "raw"),
                    *("--rate", "250", "--threads", "--nonblocking"),
                    *("--duration", str(int(config.profile_s)), "-o", str(out)),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            phase = await _closed_loop(via_grpc, streams, config.profile_s)
            await driver.close()
            if recorder is not None:
                await asyncio.wait_for(recorder.wait(), 60)
        profile = _read_pyspy(out) if use_pyspy else _read_cprofile(out)
    profile["images"] = len(phase.seconds)
    profile["conditions"] = {
        "image": config.image(),
        "upstream_latency_s": config.saturation_latency_s,
        "concurrent_streams": streams,
        "seconds": config.profile_s,
        "cores": CORES,
    }
    report.profile = profile


# --- running and reporting ---------------------------------------------------------------------


async def _run(config: Config, sections: Sequence[str]) -> Report:
    report = Report(config)
    photographic = config.photographic
    for loop in config.loops:
        if "latency" in sections:
            upstream = Upstream(config.latency_s, photographic=photographic)
            options = ServerOptions(capacity=config.streams * 2, event_loop=loop)
            with processes(upstream, options) as stack:
                await _latency_section(report, stack, loop)
        if "saturation" in sections:
            upstream = Upstream(config.saturation_latency_s, photographic=photographic)
            options = ServerOptions(capacity=config.saturation_streams * 2, event_loop=loop)
            with processes(upstream, options) as stack:
                await _saturation_section(report, stack, loop)
    if "n4" in sections:
        upstream = Upstream(config.n4_latency_s, photographic=photographic)
        with processes(upstream) as stack:
            await _n4_section(report, stack)
    if "rss" in sections:
        await _rss_section(report)
    if "ratelimit" in sections:
        await _ratelimit_section(report)
    if "profile" in sections:
        await _profile_section(report)
    return report


def _fmt(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _conditions_text(conditions: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in conditions.items())


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
        d = figure.decimals
        spread = (
            f"[{_fmt(min(figure.values), d)}-{_fmt(max(figure.values), d)}]"
            if figure.values
            else ""
        )
        target = ""
        if figure.target is not None:
            mark = "met" if figure.target.met(figure.median) else "MISSED"
            target = f"target {figure.target.op} {figure.target.value:g} {mark}"
        lines.append(
            f"  {figure.name:58} {_fmt(figure.median, d):>9} {figure.unit:5} {spread:21} {target}"
        )
    if report.profile is not None:
        profile = report.profile
        lines += [
            "",
            f"profile at saturation ({profile['profiler']}, {profile['images']} images): "
            + _conditions_text(profile["conditions"]),
        ]
        titles = ("by_category", "event_loop_thread_by_category", "top_functions", "by_thread")
        for title in titles:
            if title in profile:
                lines.append(f"  {title.replace('_', ' ')}:")
                lines += [f"    {row['share']:6.1%}  {row['where']}" for row in profile[title]]
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


def _csv(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    return lambda text: tuple(kind(part) for part in text.split(",") if part)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sections", type=_csv(str), default=DEFAULT_SECTIONS, help=f"any of {','.join(SECTIONS)}"
    )
    parser.add_argument("--latency", type=float, default=5.0, help="upstream s/image (latency)")
    parser.add_argument("--n4-latency", type=float, default=2.0, help="upstream s/image (n4)")
    parser.add_argument("--aspect-ratio", choices=SIZES, default="1:1", help="image size asked for")
    parser.add_argument(
        "--flat", action="store_true", help="flat ~50 KB images instead of ~1.5 MB photographic"
    )
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--streams", type=int, default=100, help="concurrent streams (latency)")
    parser.add_argument("--rounds", type=int, default=3, help="calls per stream per repetition")
    parser.add_argument("--loops", type=_csv(str), default=("uvloop", "asyncio"))
    parser.add_argument("--saturation-s", type=float, default=6.0, help="seconds per repetition")
    parser.add_argument("--saturation-streams", type=int, default=64)
    parser.add_argument("--saturation-latency", type=float, default=0.05, help="upstream s/image")
    parser.add_argument("--rss-levels", type=_csv(int), default=(100, 1000, 5000))
    parser.add_argument("--rss-latency", type=float, default=90.0, help="upstream s/image (rss)")
    parser.add_argument("--rate-limit", type=int, default=120, help="upstream images/minute")
    parser.add_argument("--rate-s", type=float, default=70.0, help="seconds per repetition")
    parser.add_argument("--profile-s", type=float, default=15.0)
    parser.add_argument("--profiler", choices=("cprofile", "py-spy"), default="cprofile")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    config = Config(
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
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    report = asyncio.run(_run(config, args.sections))
    if not args.json:
        print(render(report))
    print(json.dumps(as_json(report)))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
