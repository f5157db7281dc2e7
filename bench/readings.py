"""What the benchmarks read off the running processes: CPU time and memory from /proc, health
check times (the event loop's lag seen from outside), and quantiles of it all."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from types import TracebackType
from typing import Self

import grpc
from grpc_health.v1 import health_pb2

PROBE_INTERVAL_S = 0.05

# (when it started, time.monotonic; seconds it took, or None when it failed)
Sample = tuple[float, float | None]


def pct(values: Sequence[float], q: float) -> float:
    """The `q` quantile by nearest rank (values need not be sorted)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p50_p99_max_ms(values: Sequence[float], base: float = 0.0) -> tuple[float, float, float]:
    """Median, 99th percentile and maximum of seconds `values` above `base`, in milliseconds."""
    return (
        (statistics.median(values) - base) * 1000,
        (pct(values, 0.99) - base) * 1000,
        (max(values) - base) * 1000,
    )


def idle_and_loaded(
    samples: Sequence[Sample], start: float, end: float
) -> tuple[list[float], list[float]]:
    """The successful probe times before `start` (idle) and within [start, end) (under load)."""
    idle = [s for t, s in samples if t < start and s is not None]
    loaded = [s for t, s in samples if start <= t < end and s is not None]
    return idle, loaded


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
