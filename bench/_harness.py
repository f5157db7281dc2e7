"""What every benchmark shares: the loopback upstream and the real server, each in its own
process on free ports, and the /proc readings taken of them."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from types import TracebackType
from typing import Self

import grpc
from grpc_health.v1 import health_pb2

from tests.fake_openai import STATS_PATH

MODEL = "gpt-image-2.5-flare"
UPSTREAM_KEY = "sk-bench"
CLIENT_KEY = "bench-key"
PROBE_INTERVAL_S = 0.05


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


def pct(values: Sequence[float], q: float) -> float:
    """The `q` quantile by nearest rank (values need not be sorted)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads): fields 14 and 15 of /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure in KiB, e.g. VmRSS (now) or VmHWM (peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass(frozen=True)
class Upstream:
    """How the loopback upstream behaves (see `python -m tests.fake_openai -h`)."""

    latency_s: float
    photographic: bool = False
    images_per_minute: int = 0
    requests_per_minute: int = 0


@dataclass(frozen=True)
class ServerOptions:
    keys: tuple[str, ...] = (CLIENT_KEY,)
    # Raises every admission limit to this many images, so the benchmark measures the server
    # and not its refusals; None keeps the defaults.
    capacity: int | None = None
    event_loop: str | None = None  # VISIONSTUDIO_EVENT_LOOP: uvloop (the default) or asyncio
    # Any other VISIONSTUDIO_* settings.
    env: Mapping[str, str] = field(default_factory=dict)
    # Interpreter options before `-m visionstudio.server.main`, e.g. ("-m", "cProfile", "-o", f).
    python_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stack:
    upstream_url: str  # OPENAI_BASE_URL, for calling the upstream directly
    upstream_pid: int
    grpc_port: int
    http_port: int
    server_pid: int

    def upstream_stats(self) -> dict[str, int]:
        """The fake's counters: served_images, rate_limited, in_flight, max_in_flight."""
        url = self.upstream_url.removesuffix("/v1") + STATS_PATH
        with urllib.request.urlopen(url, timeout=10) as answer:
            stats: dict[str, int] = json.load(answer)
        return stats


@contextmanager
def processes(
    upstream: Upstream, options: ServerOptions | None = None, *, stop_timeout_s: float = 60
) -> Iterator[Stack]:
    """Starts the upstream and the server; stops both (SIGTERM) on the way out."""
    options = options or ServerOptions()
    upstream_port, grpc_port, http_port = free_port(), free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
    env = {
        **os.environ,
        "OPENAI_BASE_URL": upstream_url,
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "VISIONSTUDIO_API_KEYS": ",".join(options.keys),
        # Streams still open when a benchmark stops the server are not worth waiting for.
        "VISIONSTUDIO_SHUTDOWN_GRACE_S": "2",
    }
    if options.capacity is not None:
        limit = str(options.capacity)
        env |= {
            "VISIONSTUDIO_UPSTREAM_CONCURRENCY": limit,
            "VISIONSTUDIO_MAX_QUEUED_IMAGES": limit,
            "VISIONSTUDIO_PER_KEY_CONCURRENCY": limit,
            "VISIONSTUDIO_PER_KEY_QUEUED_IMAGES": limit,
        }
    if options.event_loop is not None:
        env["VISIONSTUDIO_EVENT_LOOP"] = options.event_loop
    env |= options.env
    fake_cmd = [
        *(sys.executable, "-m", "tests.fake_openai"),
        *("--port", str(upstream_port), "--latency", str(upstream.latency_s)),
        *("--api-key", UPSTREAM_KEY),
        *("--images-per-minute", str(upstream.images_per_minute)),
        *("--requests-per-minute", str(upstream.requests_per_minute)),
    ]
    if upstream.photographic:
        fake_cmd.append("--photographic")
    with tempfile.TemporaryDirectory(prefix="visionstudio-bench-") as data_dir:
        fake = subprocess.Popen(
            fake_cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        server = subprocess.Popen(
            [
                *(sys.executable, *options.python_args, "-m", "visionstudio.server.main"),
                *("--grpc-port", str(grpc_port), "--http-port", str(http_port)),
                *("--data-dir", data_dir, "--host", "127.0.0.1", "--log-level", "WARNING"),
            ],
            env=env,
        )
        try:
            wait_for_port(upstream_port)
            wait_for_port(grpc_port)
            yield Stack(upstream_url, fake.pid, grpc_port, http_port, server.pid)
        finally:
            for proc in (server, fake):
                proc.terminate()
                proc.wait(timeout=stop_timeout_s)


# (when it started, time.monotonic; seconds it took, or None when it failed)
Sample = tuple[float, float | None]


def _probe(port: int, ready: Event, stop: Event, out: Connection) -> None:
    """Times a grpc.health.v1 Check every PROBE_INTERVAL_S until `stop`; sends the samples."""
    samples: list[Sample] = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        check(health_pb2.HealthCheckRequest(), timeout=30)  # connects; not a sample
        ready.set()
        while not stop.is_set():
            started = time.monotonic()
            try:
                check(health_pb2.HealthCheckRequest(), timeout=5)
                samples.append((started, time.monotonic() - started))
            except grpc.RpcError:
                samples.append((started, None))
            time.sleep(max(0.0, started + PROBE_INTERVAL_S - time.monotonic()))
    out.send(samples)


class HealthProbe:
    """Event-loop lag seen from outside: the server answers health checks on the loop that runs
    every image stream, so the time a check takes under load, above its idle time, is how long
    work on that loop made callers wait. The probe runs in its own process, so the load
    generator's busy loop cannot delay it. `samples` is filled on exit."""

    def __init__(self, grpc_port: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        self._ready, self._stop = spawn.Event(), spawn.Event()
        self._receive, send = spawn.Pipe(duplex=False)
        self._process = spawn.Process(
            target=_probe, args=(grpc_port, self._ready, self._stop, send), daemon=True
        )
        self.samples: list[Sample] = []

    def __enter__(self) -> Self:
        """Returns once the probe is connected and sampling (its start-up costs CPU)."""
        self._process.start()
        if not self._ready.wait(timeout=60):
            raise RuntimeError("the health probe did not start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self.samples = self._receive.recv()
        self._process.join(timeout=10)
