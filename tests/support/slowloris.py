"""The slowloris attack of #15, shared by its test and its benchmark: thousands of HTTP
connections that send half a request and wait, while a prober times the health check."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass, field

import aiohttp

from tests.support.ports import LOOPBACK

HALF_REQUEST = b"GET /api/v1/openai/jobs HTTP/1.1\r\nHost: victim\r\nX-Slow: "


@dataclass
class Siege:
    """The attacker's connections; `closed_by_server` counts those the server ended."""

    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    readers: list[asyncio.StreamReader] = field(default_factory=list)

    async def closed_by_server(self) -> int:
        async def ended(reader: asyncio.StreamReader) -> bool:
            with contextlib.suppress(TimeoutError, ConnectionError):
                async with asyncio.timeout(0.01):
                    await reader.read(1)  # b"" (EOF) or an error: the server hung up
                return True
            return reader.at_eof()

        return sum(await asyncio.gather(*(ended(r) for r in self.readers)))

    def close(self) -> None:
        for writer in self.writers:
            writer.transport.abort()


async def half_sent(port: int, connections: int, batch: int = 250) -> Siege:
    """Opens `connections` connections, each sending a request's first header lines only."""
    siege = Siege()

    async def one() -> None:
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
            writer.write(HALF_REQUEST)
            siege.readers.append(reader)
            siege.writers.append(writer)

    for start in range(0, connections, batch):
        await asyncio.gather(*(one() for _ in range(min(batch, connections - start))))
    return siege


@dataclass
class HealthProbe:
    ms: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.ms, n=100)[98] if len(self.ms) > 1 else 0.0


async def probe_health(port: int, probes: int, pause_s: float = 0.02) -> HealthProbe:
    """`probes` health checks, each on a new connection (as a load balancer's probe)."""
    result = HealthProbe()
    timeout = aiohttp.ClientTimeout(total=30)
    for _ in range(probes):
        started = time.monotonic()
        try:
            connector = aiohttp.TCPConnector(force_close=True)
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
                session.get(f"http://{LOOPBACK}:{port}/healthz") as answer,
            ):
                assert answer.status == 200
            result.ms.append((time.monotonic() - started) * 1000)
        except (aiohttp.ClientError, TimeoutError):
            result.failures += 1
        await asyncio.sleep(pause_s)
    return result
