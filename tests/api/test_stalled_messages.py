"""A key whose gRPC messages stall on the way in holds at most one message's reservation of
the request-bytes budget, so other keys' calls still get in (#15).

A message's size is unknown until it has arrived, so its arrival reserves what the largest
message costs: with the defaults two such reservations fill the budget. Before, one key
announcing two large messages and never finishing them (for up to the 120 s receive timeout)
made every other call wait 10 s and be refused REQUEST_BYTES_BUSY.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.fake_openai import FakeOpenAI
from tests.support.calls import accepted_job
from tests.support.processes import KEY, ServerProcess
from tests.support.stalled_grpc import stalled_calls

OTHER_KEY = "other-process-key"
EDIT = "/visionstudio.image.v1.ImageService/EditImage"


async def test_stalled_messages_of_one_key_leave_room_for_other_keys(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    server = ServerProcess(
        upstream.base_url, tmp_path / "server", VISIONSTUDIO_API_KEYS=f"{KEY},{OTHER_KEY}"
    )
    try:
        await server.ready()
        async with (
            stalled_calls(server.grpc_port, KEY, EDIT, count=2, announced=60_000_000),
            grpc.aio.insecure_channel(server.target) as channel,
        ):
            call = pb_grpc.ImageServiceStub(channel).GenerateImage(
                pb.GenerateImageRequest(prompt="a lighthouse"),
                metadata=(("x-api-key", OTHER_KEY),),
                # Shorter than the budget's 10 s wait: a call made to wait for it fails here.
                timeout=8,
            )
            assert await accepted_job(call)
            call.cancel()
    finally:
        server.kill()
