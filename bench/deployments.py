"""Several deployments: two loopback upstreams, each admitting LIMIT images per WINDOW seconds.

The same burst of single-image calls goes to a server with one deployment, then to one with
both, then to one with both where one upstream was killed (SIGKILL) before the burst. Each run
starts with one call per deployment, so the budgets have seen the limits. Reported: the time
of each burst, the two-deployment speed-up (target about 2x), and any caller error (target 0).
Usage: python -m bench.deployments [--calls 32] [--limit 8] [--window 2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from visionstudio.client import AsyncImageClient

from bench.stack import CLIENT_KEY, MODEL, UPSTREAM_KEY, Upstream
from tests.support.launch import server_env, start_fake_openai, start_server
from tests.support.ports import free_port, wait_for_port


@dataclass(frozen=True)
class Result:
    deployments: int
    killed: int
    calls: int
    succeeded: int
    caller_errors: dict[str, int]
    seconds: float


def _providers_file(path: Path, urls: list[str]) -> Path:
    path.write_text(
        "\n".join(
            f'[[deployment]]\nname = "up-{i}"\nbase_url = "{url}"\n'
            f'api_key_env = "OPENAI_API_KEY"\nmodel = "{MODEL}"\n'
            for i, url in enumerate(urls)
        )
    )
    return path


@contextmanager
def _stack(upstream: Upstream, count: int, kill: int) -> Iterator[str]:
    """`count` upstream processes and the server using them all; `kill` of them SIGKILLed once
    the server has started. Yields the server's gRPC target."""
    ports = [free_port() for _ in range(count)]
    fakes = [start_fake_openai(port, upstream.options()) for port in ports]
    urls = [f"http://127.0.0.1:{port}/v1" for port in ports]
    grpc_port, http_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="visionstudio-bench-") as data_dir:
        providers = _providers_file(Path(data_dir) / "providers.toml", urls)
        env = server_env(
            urls[0],
            UPSTREAM_KEY,
            (CLIENT_KEY,),
            VISIONSTUDIO_PROVIDERS_FILE=str(providers),
            VISIONSTUDIO_SHUTDOWN_GRACE_S="2",
        )
        server = start_server(
            grpc_port, http_port, data_dir, env, server_args=("--log-level", "ERROR")
        )
        try:
            for port, fake in zip(ports, fakes, strict=True):
                wait_for_port(port, process=fake)
            wait_for_port(grpc_port, process=server)
            for fake in fakes[:kill]:
                fake.send_signal(signal.SIGKILL)
            yield f"127.0.0.1:{grpc_port}"
        finally:
            for proc in (server, *fakes):
                proc.terminate()
                proc.wait(timeout=60)


async def _call(target: str, errors: Counter[str]) -> bool:
    async with AsyncImageClient(target, CLIENT_KEY) as client:
        try:
            async for _ in client.generate("deployments", timeout=120):
                pass
        except grpc.aio.AioRpcError as err:
            errors[err.code().name] += 1
            return False
    return True


async def _run(upstream: Upstream, count: int, kill: int, calls: int) -> Result:
    with _stack(upstream, count, kill) as target:
        errors: Counter[str] = Counter()
        await asyncio.gather(*(_call(target, errors) for _ in range(count)))  # one each
        await asyncio.sleep(upstream.window_s)  # every bucket full again
        errors.clear()
        started = time.monotonic()
        outcomes = await asyncio.gather(*(_call(target, errors) for _ in range(calls)))
        seconds = time.monotonic() - started
    return Result(count, kill, calls, sum(outcomes), dict(errors), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=32)
    parser.add_argument("--limit", type=int, default=8, help="images per window, each upstream")
    parser.add_argument("--window", type=float, default=2.0, help="the window in seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    upstream = Upstream(latency_s=0.2, images_per_minute=args.limit, window_s=args.window)
    results = [asyncio.run(_run(upstream, n, k, args.calls)) for n, k in ((1, 0), (2, 0), (2, 1))]
    for result in results:
        if args.json:
            print(json.dumps(asdict(result)))
            continue
        print(
            f"{result.deployments} deployment(s), {result.killed} killed: {result.calls} calls "
            f"in {result.seconds:.2f} s, {result.succeeded} succeeded, "
            f"errors {result.caller_errors or 0}"
        )
    if not args.json:
        print(
            f"two deployments: {results[0].seconds / results[1].seconds:.2f}x faster (target ~2x)"
        )


if __name__ == "__main__":
    main()
