"""The memory attack of #15 against a server process: border inpaints of a 6300x6300 PNG of
about 130 KB, several at once. Before the pixel budget each job held its full-size canvas
(about 300 MB) through the upstream wait and finishing made several copies at once; now the
server's peak RSS stays bounded and health keeps answering. `make bench` (bench.attacks)
runs the full 16 calls x 10 images."""

from __future__ import annotations

from pathlib import Path

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.fake_openai import FakeOpenAI
from tests.support.attacks import border_flood, peak_rss_mb
from tests.support.processes import KEY, ServerProcess

PEAK_RSS_LIMIT_MB = 1536


async def test_huge_border_inpaints_at_once_keep_memory_bounded(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    server = ServerProcess(upstream.base_url, tmp_path / "server")
    try:
        await server.ready()
        outcome = await border_flood(server.grpc_port, server.http_port, KEY, calls=6, images=2)
        peak = peak_rss_mb(server.proc.pid)
    finally:
        server.kill()
    assert outcome.codes == [grpc.StatusCode.OK] * 6 and outcome.images == 12
    print(f"peak RSS {peak:.0f} MiB")
    assert peak < PEAK_RSS_LIMIT_MB, f"peak RSS {peak:.0f} MiB"
    # Health answered all along (counted, not timed: the machine may be loaded).
    assert len(outcome.health_ms) > 10


async def test_unauthenticated_uploads_are_refused_before_they_are_buffered(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    """32 EditImage calls of 60 MB each without a valid key: before, each body was received
    and parsed before the key was checked (1.6 GB RSS); with the receive windows that BDP probing
    grew, 19-254 MiB stayed parked in flow-control windows; now about 2 MiB."""
    server = ServerProcess(upstream.base_url, tmp_path / "server")
    try:
        await server.ready()
        before = peak_rss_mb(server.proc.pid)
        body = pb.EditImageRequest(prompt="x", image_file=b"\0" * (60 * 1024 * 1024))
        async with grpc.aio.insecure_channel(
            server.target, options=[("grpc.max_send_message_length", -1)]
        ) as channel:
            stub: pb_grpc.ImageServiceAsyncStub = pb_grpc.ImageServiceStub(channel)
            calls = [stub.EditImage(body, metadata=(("x-api-key", "wrong"),)) for _ in range(32)]
            codes = [await call.code() for call in calls]
        grown = peak_rss_mb(server.proc.pid) - before
    finally:
        server.kill()
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 32
    assert grown < 48, f"peak RSS grew by {grown:.0f} MiB"
