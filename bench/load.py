"""Hundreds of concurrent streams against an upstream with latency: errors, latency, memory, lag.

Starts the loopback upstream (a fixed latency per image) and the real server, each in its own
process, with the server's admission limits raised so that every stream is admitted. Then
`--streams` callers run at once, each making `--rounds` GenerateImage calls back to back. They
all start together (a burst every round, the worst case) unless `--ramp` spreads their first
calls over that many seconds (a steady flow).

Event-loop lag is measured from outside, as the server itself reports none: a separate process
times a grpc.health.v1 Check every 50 ms, before and during the load. The server answers it on
the event loop that also runs every image stream, so the time it takes under load, above the
idle time, is how long work on that loop made callers wait.
Usage: python -m bench.load [--streams 300] [--latency 0.5] [--n 1] [--rounds 5] [--ramp 0]
                            [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
from visionstudio.client import AsyncImageClient

from bench.readings import (
    HealthProbe,
    cpu_seconds,
    idle_and_loaded,
    p50_p99_max_ms,
    proc_status_kib,
)
from bench.stack import CLIENT_KEY, ServerOptions, Stack, Upstream, processes

STREAMS_PER_CHANNEL = 100  # like a client pool: one HTTP/2 connection per 100 streams
CALL_TIMEOUT_S = 120.0


@dataclass
class Outcome:
    seconds: list[float] = field(default_factory=list)  # per successful call
    errors: Counter[str] = field(default_factory=Counter)
    # The timed phase (time.monotonic, comparable with the probe's) and the server's CPU in it.
    started: float = 0.0
    ended: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0


async def _caller(
    client: AsyncImageClient, rounds: int, n: int, outcome: Outcome, delay_s: float = 0.0
) -> None:
    await asyncio.sleep(delay_s)
    for _ in range(rounds):
        started = time.monotonic()
        images = 0
        try:
            async for event in client.generate(
                "a lighthouse at dawn", number_of_images=n, timeout=CALL_TIMEOUT_S
            ):
                if event.WhichOneof("event") == "image":
                    images += 1
        except grpc.aio.AioRpcError as err:
            outcome.errors[err.code().name] += 1
            continue
        if images != n:
            outcome.errors[f"{images} of {n} images"] += 1
            continue
        outcome.seconds.append(time.monotonic() - started)


async def _load(server: Stack, streams: int, rounds: int, n: int, ramp_s: float) -> Outcome:
    target = f"127.0.0.1:{server.grpc_port}"
    clients = [
        AsyncImageClient(target, CLIENT_KEY) for _ in range(-(-streams // STREAMS_PER_CHANNEL))
    ]
    try:
        # Warm every connection (and the server's upstream pool) before timing.
        await asyncio.gather(*(_caller(c, 1, n, Outcome()) for c in clients for _ in range(5)))
        outcome = Outcome(started=time.monotonic())
        cpu_before, client_cpu_before = cpu_seconds(server.server_pid), cpu_seconds(os.getpid())
        await asyncio.gather(
            *(
                _caller(clients[i % len(clients)], rounds, n, outcome, ramp_s * i / streams)
                for i in range(streams)
            )
        )
        outcome.ended = time.monotonic()
        outcome.server_cpu_s = cpu_seconds(server.server_pid) - cpu_before
        outcome.client_cpu_s = cpu_seconds(os.getpid()) - client_cpu_before
        return outcome
    finally:
        for client in clients:
            await client.close()


def _stats(values: list[float]) -> dict[str, float]:
    p50, p99, most = p50_p99_max_ms(values) if values else (0.0, 0.0, 0.0)
    return {"p50_ms": p50, "p99_ms": p99, "max_ms": most}


def run(
    streams: int, latency_s: float, n: int, rounds: int, ramp_s: float = 0.0, idle_s: float = 2.0
) -> dict[str, Any]:
    with processes(Upstream(latency_s), ServerOptions(capacity=streams * n)) as server:
        rss_idle_kib = proc_status_kib(server.server_pid, "VmRSS")
        with HealthProbe(server.grpc_port) as probe:
            time.sleep(idle_s)  # the probe's idle baseline
            outcome = asyncio.run(_load(server, streams, rounds, n, ramp_s))
        samples = probe.samples
        peak_rss_kib = proc_status_kib(server.server_pid, "VmHWM")
    start, end = outcome.started, outcome.ended
    idle, loaded = idle_and_loaded(samples, start, end)
    probe_failures = sum(1 for _, s in samples if s is None)
    wall_s, cpu_s = end - start, outcome.server_cpu_s
    calls = _stats(outcome.seconds)
    idle_lag, load_lag = _stats(idle), _stats(loaded)
    return {
        "streams": streams,
        "rounds": rounds,
        "ramp_s": ramp_s,
        "images_per_call": n,
        "upstream_latency_s": latency_s,
        "cores": os.cpu_count() or 0,
        "calls": streams * rounds,
        "errors": sum(outcome.errors.values()),
        "error_kinds": dict(outcome.errors),
        "wall_s": wall_s,
        "calls_per_s": len(outcome.seconds) / wall_s,
        "call_p50_ms": calls["p50_ms"],
        "call_p99_ms": calls["p99_ms"],
        "call_max_ms": calls["max_ms"],
        "added_p50_ms": calls["p50_ms"] - latency_s * 1000,
        "added_p99_ms": calls["p99_ms"] - latency_s * 1000,
        "server_cpu_s": cpu_s,
        "server_cpu_ms_per_call": cpu_s * 1000 / max(1, len(outcome.seconds)),
        "load_generator_cpu_s": outcome.client_cpu_s,
        "server_rss_idle_mib": rss_idle_kib / 1024,
        "server_peak_rss_mib": peak_rss_kib / 1024,
        "health_idle_p50_ms": idle_lag["p50_ms"],
        "health_idle_p99_ms": idle_lag["p99_ms"],
        "health_load_p50_ms": load_lag["p50_ms"],
        "health_load_p99_ms": load_lag["p99_ms"],
        "health_load_max_ms": load_lag["max_ms"],
        "health_probes_under_load": len(loaded),
        "health_probe_failures": probe_failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=300, help="concurrent callers")
    parser.add_argument("--latency", type=float, default=0.5, help="upstream seconds per image")
    parser.add_argument("--n", type=int, default=1, help="images per call")
    parser.add_argument("--rounds", type=int, default=5, help="calls per caller, back to back")
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="seconds over which the first calls start"
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    r = run(args.streams, args.latency, args.n, args.rounds, args.ramp)
    if args.json:
        print(json.dumps(r))
        return
    start = f"starts spread over {r['ramp_s']:g} s" if r["ramp_s"] else "all starting at once"
    print(
        f"{r['streams']} concurrent streams x {r['rounds']} rounds ({start}), "
        f"n={r['images_per_call']}, 1024x1024 PNG, upstream latency "
        f"{r['upstream_latency_s'] * 1000:.0f} ms/image, {r['cores']} cores shared by the load "
        "generator, the server and the upstream"
    )
    rows = [
        ("errors", f"{r['errors']} of {r['calls']} calls {r['error_kinds'] or ''}"),
        ("throughput", f"{r['calls_per_s']:.1f} calls/s over {r['wall_s']:.1f} s"),
        ("call latency p50 / p99 / max", _ms(r, "call_p50_ms", "call_p99_ms", "call_max_ms")),
        ("added over upstream p50 / p99", _ms(r, "added_p50_ms", "added_p99_ms")),
        ("health check idle p50 / p99", _ms(r, "health_idle_p50_ms", "health_idle_p99_ms")),
        (
            "health check loaded p50/p99/max",
            _ms(r, "health_load_p50_ms", "health_load_p99_ms", "health_load_max_ms"),
        ),
        ("server CPU", f"{r['server_cpu_s']:.1f} s, {r['server_cpu_ms_per_call']:.1f} ms/call"),
        ("load generator CPU", f"{r['load_generator_cpu_s']:.1f} s"),
        (
            "server RSS idle / peak (VmHWM)",
            f"{r['server_rss_idle_mib']:.0f} / {r['server_peak_rss_mib']:.0f} MiB",
        ),
    ]
    for label, value in rows:
        print(f"  {label:32} {value}")
    print(json.dumps(r))
    if r["errors"]:
        sys.exit(1)


def _ms(result: dict[str, Any], *keys: str) -> str:
    return " / ".join(f"{result[k]:.1f}" for k in keys) + " ms"


if __name__ == "__main__":
    main()
