"""The loopback upstream and the real server, each in its own process on free ports, as every
benchmark runs them."""

from __future__ import annotations

import json
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.fake_openai import STATS_PATH
from tests.support.launch import server_env, start_fake_openai, start_server
from tests.support.ports import free_port, wait_for_port

MODEL = "gpt-image-2.5-flare"
UPSTREAM_KEY = "sk-bench"
CLIENT_KEY = "bench-key"


@dataclass(frozen=True)
class Upstream:
    """How the loopback upstream behaves (see `python -m tests.fake_openai -h`)."""

    latency_s: float
    photographic: bool = False
    images_per_minute: int = 0
    requests_per_minute: int = 0
    window_s: float = 60.0  # the limits' window (a minute upstream; shorter for fast runs)

    def options(self) -> list[str]:
        return [
            *("--latency", str(self.latency_s), "--api-key", UPSTREAM_KEY),
            *("--images-per-minute", str(self.images_per_minute)),
            *("--requests-per-minute", str(self.requests_per_minute)),
            *("--rate-window", str(self.window_s)),
            *(("--photographic",) if self.photographic else ()),
        ]


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

    def settings(self) -> dict[str, str]:
        # Streams still open when a benchmark stops the server are not worth waiting for.
        settings = {"VISIONSTUDIO_SHUTDOWN_GRACE_S": "2"}
        if self.capacity is not None:
            limit = str(self.capacity)
            settings |= {
                "VISIONSTUDIO_UPSTREAM_CONCURRENCY": limit,
                "VISIONSTUDIO_MAX_QUEUED_IMAGES": limit,
                "VISIONSTUDIO_PER_KEY_CONCURRENCY": limit,
                "VISIONSTUDIO_PER_KEY_QUEUED_IMAGES": limit,
            }
        if self.event_loop is not None:
            settings["VISIONSTUDIO_EVENT_LOOP"] = self.event_loop
        return settings | dict(self.env)


@dataclass(frozen=True)
class Stack:
    upstream_url: str  # OPENAI_BASE_URL, for calling the upstream directly
    upstream_pid: int
    grpc_port: int
    http_port: int
    server_pid: int
    # grpc.health.v1 answered off the event loop (VISIONSTUDIO_HEALTH_PORT).
    health_port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

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
    health_port = free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
    settings = {"VISIONSTUDIO_HEALTH_PORT": str(health_port), **options.settings()}
    env = server_env(upstream_url, UPSTREAM_KEY, options.keys, **settings)
    with tempfile.TemporaryDirectory(prefix="visionstudio-bench-") as data_dir:
        fake = start_fake_openai(upstream_port, upstream.options())
        server = start_server(
            grpc_port,
            http_port,
            data_dir,
            env,
            python_args=options.python_args,
            server_args=("--log-level", "WARNING"),
        )
        try:
            wait_for_port(upstream_port, process=fake)
            wait_for_port(grpc_port, process=server)
            yield Stack(upstream_url, fake.pid, grpc_port, http_port, server.pid, health_port)
        finally:
            for proc in (server, fake):
                proc.terminate()
                proc.wait(timeout=stop_timeout_s)
