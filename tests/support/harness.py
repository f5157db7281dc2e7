"""The service under test, assembled as production does, and helpers to call and inspect it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from aiohttp import web
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc
from visionstudio.server.assembly import RunningService
from visionstudio.server.observability.metrics import Metrics

# Re-exported: the tests have always taken them from here.
from tests.support.images import decode as decode
from tests.support.images import png as png

API_KEY = "test-key-1"
UPSTREAM_KEY = "sk-upstream-test"
AUTH = (("x-api-key", API_KEY),)


@dataclass
class Harness:
    service: RunningService
    stub: pb_grpc.ImageServiceAsyncStub
    channel: grpc.aio.Channel
    data_dir: Path
    metrics: Metrics


async def eventually(predicate: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    """Polls `predicate` until it holds or `timeout_s` passes."""
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def collect(call: AsyncIterable[pb.ImageEvent]) -> list[pb.ImageEvent]:
    return [event async for event in call]


def images_of(events: list[pb.ImageEvent]) -> list[pb.Image]:
    return [e.image for e in events if e.WhichOneof("event") == "image"]


def rich_error(err: grpc.aio.AioRpcError) -> dict[str, object]:
    """The google.rpc.Status details of a failed call: reason, metadata and field violations."""
    from google.rpc import error_details_pb2
    from visionstudio.client.errors import error_details

    found: dict[str, object] = {"fields": [], "reason": None, "metadata": {}, "retry": None}
    for detail in error_details(err):
        if isinstance(detail, error_details_pb2.BadRequest):
            found["fields"] = [v.field for v in detail.field_violations]
        elif isinstance(detail, error_details_pb2.ErrorInfo):
            found["reason"] = detail.reason
            found["metadata"] = dict(detail.metadata)
        elif isinstance(detail, error_details_pb2.RetryInfo):
            found["retry"] = detail.retry_delay.ToTimedelta().total_seconds()
    return found


class ImageHost:
    """A plain HTTP server on loopback that serves whatever bytes a test puts on it."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        # Files sent one byte a second, as a hostile host trickles them (names in `files`).
        self.slow: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/{name}", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        # A second loopback address, so tests can allow one host and not the other.
        await web.TCPSite(self._runner, "127.0.0.2", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def put(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        self.files[name] = (data, content_type)
        return f"http://127.0.0.1:{self.port}/{name}"

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.query["to"])

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name.startswith("redirect-"):
            raise web.HTTPFound(f"/{name.removeprefix('redirect-')}")
        if name not in self.files:
            raise web.HTTPNotFound()
        data, content_type = self.files[name]
        if name not in self.slow:
            return web.Response(body=data, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for i in range(len(data)):
            await response.write(data[i : i + 1])
            await asyncio.sleep(1.0)
        return response
