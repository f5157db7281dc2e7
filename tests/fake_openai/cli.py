"""``python -m tests.fake_openai``: the fake as a process, for people, scripts and benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from tests.fake_openai.config import FakeOpenAIConfig
from tests.fake_openai.server import FakeOpenAI


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    config = FakeOpenAIConfig(
        api_key=args.api_key,
        latency_s=args.latency,
        # Records of a separate process can never be read, so keeping them would only grow memory.
        record_requests=False,
        rate_limit_requests_per_minute=args.requests_per_minute,
        rate_limit_images_per_minute=args.images_per_minute,
        rate_limit_window_s=args.rate_window,
        photographic=args.photographic,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, config))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_openai",
        description="Run a local, strict, OpenAI-compatible Images API (no real model, no cost).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--api-key", default="sk-test", help="the Bearer key to accept")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per image call")
    for kind in ("requests", "images"):
        parser.add_argument(
            f"--{kind}-per-minute",
            type=int,
            default=0,
            metavar="N",
            help=f"the account's {kind[:-1]} limit, answered with 429 above it (default 0: off)",
        )
    parser.add_argument(
        "--rate-window",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="the limits' window (default 60: per minute, as OpenAI's; shorter for fast tests)",
    )
    parser.add_argument(
        "--photographic",
        action="store_true",
        help="grainy generations that are as large as real ones (~1.5 MB per 1024x1024 PNG)",
    )
    return parser


async def _serve(host: str, port: int, config: FakeOpenAIConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Explicit handlers, installed before the URL is announced: a background job may inherit an
    # ignored SIGINT, and SIGTERM should stop cleanly too. (Windows lacks them; Ctrl-C works.)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    fake = FakeOpenAI(config)
    await fake.start(host, port)
    try:
        print(fake.base_url, flush=True)  # stdout carries only the URL, for scripts
        hint = f"export OPENAI_BASE_URL={fake.base_url} OPENAI_API_KEY={config.api_key}"
        print(f"Fake OpenAI Images API: {hint}  (Ctrl-C stops)", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await fake.stop()
