"""The memory attacks of #15, shared by their tests and their benchmark, against a server
process while a prober times the health check: many border inpaints of a PNG that is small in
bytes but huge in pixels; many large HTTP bodies; many large keyed gRPC messages."""

from __future__ import annotations

import asyncio
import io
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import grpc
from PIL import Image
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc
from visionstudio.server.api.http.models import API_PREFIX

from tests.support.ports import LOOPBACK

GENERATE = f"{API_PREFIX}/image/generation/generate-image"


def huge_png(side: int = 6300) -> bytes:
    """About 130 KB of PNG holding side x side pixels (just under the 40 MP limit at 6300)."""
    out = io.BytesIO()
    Image.new("RGB", (side, side), (90, 120, 200)).save(out, "PNG")
    return out.getvalue()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


@dataclass
class Outcome:
    codes: list[grpc.StatusCode] = field(default_factory=list)
    http_statuses: list[int] = field(default_factory=list)
    images: int = 0
    health_ms: list[float] = field(default_factory=list)

    @property
    def health_p99_ms(self) -> float:
        return (
            statistics.quantiles(self.health_ms, n=100, method="inclusive")[98]
            if len(self.health_ms) > 1
            else 0
        )


async def _inpaint(stub: pb_grpc.ImageServiceAsyncStub, key: str, data: bytes, n: int) -> int:
    request = pb.InpaintRequest(
        prompt="more sky",
        image_file=data,
        inpaint_border_only=True,
        border_percentage=0.05,
        number_of_images=n,
    )
    events = [e async for e in stub.Inpaint(request, metadata=(("x-api-key", key),))]
    return sum(1 for e in events if e.WhichOneof("event") == "image")


async def _probe(http_port: int, outcome: Outcome, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(f"http://{LOOPBACK}:{http_port}/healthz") as resp:
                assert resp.status == 200
            outcome.health_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)


@asynccontextmanager
async def health_probed(http_port: int, outcome: Outcome) -> AsyncIterator[None]:
    """Times the health check every 50 ms while the block runs."""
    stop = asyncio.Event()
    prober = asyncio.create_task(_probe(http_port, outcome, stop))
    try:
        yield
    finally:
        stop.set()
        await prober


async def body_flood(http_port: int, key: str, *, count: int, size: int) -> Outcome:
    """`count` generate bodies of about `size` bytes at once, with a key: each a prompt far
    too long (refused 400 once parsed, or 503 while others hold the request-bytes budget)."""
    body = b'{"prompt":"' + b"a" * size + b'"}'
    url = f"http://{LOOPBACK}:{http_port}{GENERATE}"
    outcome = Outcome()
    async with aiohttp.ClientSession() as http, health_probed(http_port, outcome):

        async def post() -> int:
            async with http.post(url, data=body, headers={"X-API-Key": key}) as answer:
                await answer.read()
                return answer.status

        outcome.http_statuses = list(await asyncio.gather(*(post() for _ in range(count))))
    return outcome


async def message_flood(
    grpc_port: int, http_port: int, key: str, *, count: int, size: int
) -> Outcome:
    """`count` keyed EditImage calls carrying `size` bytes each at once, each refused
    INVALID_ARGUMENT (a prompt too long) once received."""
    request = pb.EditImageRequest(prompt="x" * 40_000, image_file=b"\0" * size)
    outcome = Outcome()
    async with (
        grpc.aio.insecure_channel(
            f"{LOOPBACK}:{grpc_port}", options=[("grpc.max_send_message_length", -1)]
        ) as channel,
        health_probed(http_port, outcome),
    ):
        stub: pb_grpc.ImageServiceAsyncStub = pb_grpc.ImageServiceStub(channel)
        calls = [stub.EditImage(request, metadata=(("x-api-key", key),)) for _ in range(count)]
        outcome.codes = list(await asyncio.gather(*(call.code() for call in calls)))
    return outcome


async def border_flood(
    grpc_port: int, http_port: int, key: str, *, calls: int, images: int, side: int = 6300
) -> Outcome:
    """`calls` border inpaints of n=`images` at once; health is timed all along."""
    data = huge_png(side)
    outcome = Outcome()
    async with (
        grpc.aio.insecure_channel(
            f"{LOOPBACK}:{grpc_port}", options=[("grpc.max_receive_message_length", -1)]
        ) as channel,
        health_probed(http_port, outcome),
    ):
        stub: pb_grpc.ImageServiceAsyncStub = pb_grpc.ImageServiceStub(channel)
        results = await asyncio.gather(
            *(_inpaint(stub, key, data, images) for _ in range(calls)), return_exceptions=True
        )
    for result in results:
        if isinstance(result, grpc.aio.AioRpcError):
            outcome.codes.append(result.code())
        elif isinstance(result, BaseException):
            raise result
        else:
            outcome.codes.append(grpc.StatusCode.OK)
            outcome.images += result
    return outcome
