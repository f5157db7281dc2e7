"""The slowloris attack of #15 against a server process over real sockets: before, 5,000
half-sent HTTP requests were held open indefinitely and 20,000 used every file descriptor,
after which health failed too. Now the HTTP surface caps its connections (evicting the oldest
idle or half-sent one for a newcomer) and closes a connection with no complete request in
`VISIONSTUDIO_HTTP_IDLE_TIMEOUT_S`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fake_openai import FakeOpenAI
from tests.support.processes import ServerProcess
from tests.support.slowloris import half_sent, probe_health

ATTACKERS = 5000


async def test_health_answers_under_5000_half_sent_requests(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    server = ServerProcess(
        upstream.base_url, tmp_path / "server", VISIONSTUDIO_HTTP_MAX_CONNECTIONS="1000"
    )
    try:
        await server.ready()
        siege = await half_sent(server.http_port, ATTACKERS)
        try:
            assert len(siege.writers) == ATTACKERS
            health = await probe_health(server.http_port, probes=20)
            # The cap evicted the oldest half-sent ones to let the rest and the probes in.
            evicted = await siege.closed_by_server()
        finally:
            siege.close()
    finally:
        server.kill()
    assert health.failures == 0 and len(health.ms) == 20
    assert evicted >= ATTACKERS - 1000
    print(f"health p99 {health.p99_ms:.1f} ms under {ATTACKERS} half-sent requests")


async def test_a_half_sent_request_is_closed_after_the_idle_timeout(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    server = ServerProcess(
        upstream.base_url, tmp_path / "server", VISIONSTUDIO_HTTP_IDLE_TIMEOUT_S="1"
    )
    try:
        await server.ready()
        siege = await half_sent(server.http_port, 50)
        try:
            # Bounded, not timed: before, these connections stayed open for good.
            async with asyncio.timeout(30):
                await asyncio.gather(*(r.read() for r in siege.readers), return_exceptions=True)
            assert all(r.at_eof() for r in siege.readers)
        finally:
            siege.close()
    finally:
        server.kill()
