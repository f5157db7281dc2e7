"""The server as a separate process, as it runs in production: for shutdown and replica tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.support.harness import UPSTREAM_KEY, eventually
from tests.support.launch import server_env, start_server
from tests.support.ports import free_port, free_ports, listening

__all__ = ["KEY", "ServerProcess", "free_port", "listening", "rest"]

KEY = "process-key"


class ServerProcess:
    def __init__(self, upstream_url: str, data_dir: Path, **env: str) -> None:
        self.grpc_port, self.http_port = free_ports(2)
        data_dir.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: a pipe nobody reads would fill up and stall the server.
        self.log = data_dir / "server.log"
        settings = {
            "VISIONSTUDIO_SHUTDOWN_GRACE_S": "20",
            "VISIONSTUDIO_HEALTH_PROBE_INTERVAL_S": "0.2",
            **env,
        }
        with self.log.open("w") as log:
            self.proc = start_server(
                self.grpc_port,
                self.http_port,
                data_dir,
                server_env(upstream_url, UPSTREAM_KEY, [KEY], **settings),
                output=log,
            )

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    async def ready(self) -> None:
        assert await eventually(lambda: listening(self.grpc_port), timeout_s=20), (
            self.log.read_text()
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


async def rest(call: grpc.aio.UnaryStreamCall[Any, pb.ImageEvent]) -> list[pb.ImageEvent]:
    """The remaining events of a call already read from (iteration cannot follow read())."""
    events = []
    while (event := await call.read()) is not grpc.aio.EOF:
        assert isinstance(event, pb.ImageEvent)
        events.append(event)
    return events
