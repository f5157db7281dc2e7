"""Health latency under #15's slowloris attack: `--connections` half-sent HTTP requests held
open against a server process (default settings), while new connections probe /healthz.

Usage: python -m bench.slowloris [--connections 5000 --probes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from tests.fake_openai import FakeOpenAI
from tests.fake_openai.config import FakeOpenAIConfig
from tests.support.harness import UPSTREAM_KEY
from tests.support.processes import ServerProcess
from tests.support.slowloris import half_sent, probe_health


async def _run(connections: int, probes: int) -> dict[str, float]:
    async with FakeOpenAI(FakeOpenAIConfig(api_key=UPSTREAM_KEY)) as upstream:
        with tempfile.TemporaryDirectory() as data:
            server = ServerProcess(upstream.base_url, Path(data))
            try:
                await server.ready()
                quiet = await probe_health(server.http_port, probes)
                siege = await half_sent(server.http_port, connections)
                try:
                    attacked = await probe_health(server.http_port, probes)
                    evicted = await siege.closed_by_server()
                finally:
                    siege.close()
            finally:
                server.kill()
    return {
        "connections": connections,
        "evicted": evicted,
        "health_p99_ms_quiet": round(quiet.p99_ms, 1),
        "health_p99_ms": round(attacked.p99_ms, 1),
        "health_failures": attacked.failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--probes", type=int, default=100)
    args = parser.parse_args()
    result = asyncio.run(_run(args.connections, args.probes))
    print(
        f"slowloris: {result['connections']} half-sent requests ({result['evicted']} evicted): "
        f"health p99 {result['health_p99_ms']} ms (quiet {result['health_p99_ms_quiet']} ms), "
        f"{result['health_failures']} failures"
    )
    print(json.dumps({"slowloris": result}))


if __name__ == "__main__":
    main()
