"""`visionstudio-server`: run the gRPC and HTTP servers until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import uvloop
from visionstudio.server.api.auth import dev_key
from visionstudio.server.assembly import start
from visionstudio.server.core import StartupError
from visionstudio.server.observability import logs, tracing
from visionstudio.server.process_tuning import tune_gc, tune_malloc
from visionstudio.server.settings import Settings, client_keys

log = logging.getLogger("visionstudio.server")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="visionstudio-server", description=__doc__)
    parser.add_argument("--grpc-port", type=int, help="gRPC port (default 50051)")
    parser.add_argument("--http-port", type=int, help="HTTP port (default 8527)")
    parser.add_argument("--data-dir", type=Path, help="images and job database (default .data)")
    parser.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    parser.add_argument(
        "--dev-key",
        action="store_true",
        help="when VISIONSTUDIO_API_KEYS is empty, create and accept a development key stored "
        "in <data-dir>/dev-api-key",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--log-format", choices=("json", "text"), help="json (default): one object a line"
    )
    return parser.parse_args(argv)


async def _serve(settings: Settings, keys: list[str]) -> int:
    try:
        service = await start(settings, keys)
    except (StartupError, ValueError) as exc:
        # ValueError: a setting the stores refuse (their messages name it).
        log.critical("refusing to start: %s", exc)
        return 2
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down; in-flight calls get %.0f s", settings.shutdown_grace_s)
    await service.stop(settings.shutdown_grace_s)
    return 0


def main(argv: list[str] | None = None) -> int:
    tune_malloc()
    args = _parse(argv)
    overrides = {
        name: value
        for name, value in (
            ("grpc_port", args.grpc_port),
            ("http_port", args.http_port),
            ("data_dir", args.data_dir),
            ("host", args.host),
            ("log_format", args.log_format),
        )
        if value is not None
    }
    settings = Settings(**overrides)
    logs.configure(args.log_level, settings.log_format)
    try:
        keys = client_keys(settings)
    except OSError as exc:
        log.critical("refusing to start: cannot read VISIONSTUDIO_API_KEYS_FILE: %s", exc)
        return 2
    if not keys and args.dev_key:
        path = settings.data_dir / "dev-api-key"
        keys = [dev_key(path)]
        log.warning(
            "no VISIONSTUDIO_API_KEYS set: accepting the development key in %s "
            "(export VISIONSTUDIO_API_KEY=$(cat %s))",
            path,
            path,
        )
    if not keys:
        log.critical(
            "refusing to start: no client API keys. Set VISIONSTUDIO_API_KEYS=key1,key2 "
            "(or pass --dev-key for a local development key)."
        )
        return 2
    if endpoint := tracing.configure_from_environment():
        log.info("tracing: exporting spans over OTLP/HTTP to %s", endpoint)
    serving = _serve(settings, keys)
    try:
        return uvloop.run(serving) if settings.event_loop == "uvloop" else asyncio.run(serving)
    finally:
        # Every span has ended with the loop; send the ones still queued before exiting.
        tracing.shutdown()


if __name__ == "__main__":
    sys.exit(main())
