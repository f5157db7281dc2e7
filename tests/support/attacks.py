"""The memory attack of #15, shared by its test and its benchmark: many border inpaints of a
PNG that is small in bytes but huge in pixels, at once, against a server process, while a
prober times the health check."""

from __future__ import annotations

import asyncio
import io
import statistics
import time
from dataclasses import dataclass, field

import aiohttp
import grpc
from PIL import Image
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.support.ports import LOOPBACK


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
    images: int = 0
    health_ms: list[float] = field(default_factory=list)

    @property
    def health_p99_ms(self) -> float:
        return statistics.quantiles(self.health_ms, n=100)[98] if len(self.health_ms) > 1 else 0


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


async def border_flood(
    grpc_port: int, http_port: int, key: str, *, calls: int, images: int, side: int = 6300
) -> Outcome:
    """`calls` border inpaints of n=`images` at once; health is timed all along."""
    data = huge_png(side)
    outcome = Outcome()
    stop = asyncio.Event()
    async with grpc.aio.insecure_channel(
        f"{LOOPBACK}:{grpc_port}", options=[("grpc.max_receive_message_length", -1)]
    ) as channel:
        stub: pb_grpc.ImageServiceAsyncStub = pb_grpc.ImageServiceStub(channel)
        prober = asyncio.create_task(_probe(http_port, outcome, stop))
        results = await asyncio.gather(
            *(_inpaint(stub, key, data, images) for _ in range(calls)), return_exceptions=True
        )
        stop.set()
        await prober
    for result in results:
        if isinstance(result, grpc.aio.AioRpcError):
            outcome.codes.append(result.code())
        elif isinstance(result, BaseException):
            raise result
        else:
            outcome.codes.append(grpc.StatusCode.OK)
            outcome.images += result
    return outcome
