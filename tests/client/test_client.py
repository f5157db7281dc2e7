"""The client package against a small real grpc.aio server that records what it receives."""

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from PIL import Image
from visionstudio.client import AsyncImageClient, ImageClient, describe_error
from visionstudio.client.cli import main
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

JOB_ID = "job-7f3a"
REJECTED_PROMPT = "please reject"
EXPECTED_ERROR = (
    "INVALID_ARGUMENT: request is invalid "
    "(prompt: must not ask to be rejected; reason: PROMPT_REJECTED; retry after 1.5s)"
)


def png(width: int, height: int, color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


# Completion order, not index order, as the real service streams them.
IMAGES = [(1, png(6, 4, "red")), (0, png(6, 4, "blue"))]

Context = grpc.aio.ServicerContext[Message, pb.ImageEvent]


@dataclass
class RecordingServicer(pb_grpc.ImageServiceServicer):
    """Records each request, its metadata and deadline, then streams canned events."""

    requests: list[Message] = field(default_factory=list)
    metadata: list[dict[str, str | bytes]] = field(default_factory=list)
    time_remaining: list[float] = field(default_factory=list)

    async def GenerateImage(
        self, request: pb.GenerateImageRequest, context: Context
    ) -> AsyncIterator[pb.ImageEvent]:
        async for event in self._respond(request, request.prompt, request.include_data, context):
            yield event

    async def EditImage(
        self, request: pb.EditImageRequest, context: Context
    ) -> AsyncIterator[pb.ImageEvent]:
        async for event in self._respond(request, request.prompt, request.include_data, context):
            yield event

    async def Inpaint(
        self, request: pb.InpaintRequest, context: Context
    ) -> AsyncIterator[pb.ImageEvent]:
        async for event in self._respond(request, request.prompt, request.include_data, context):
            yield event

    async def _respond(
        self, request: Message, prompt: str, include_data: bool, context: Context
    ) -> AsyncIterator[pb.ImageEvent]:
        self.requests.append(request)
        metadata = dict(context.invocation_metadata() or ())
        self.metadata.append(metadata)
        self.time_remaining.append(context.time_remaining())
        if "x-api-key" not in metadata:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing x-api-key")
        if prompt == REJECTED_PROMPT:
            await context.abort_with_status(rpc_status.to_status(rejection()))
        yield pb.ImageEvent(
            accepted=pb.JobAccepted(job_id=JOB_ID, number_of_images=2, model="gpt-image-test")
        )
        for index, data in IMAGES:
            yield pb.ImageEvent(
                image=pb.Image(
                    index=index,
                    url=f"http://images.test/{JOB_ID}/{index}",
                    data=data if include_data else b"",
                    mime_type="image/png",
                    width=6,
                    height=4,
                    image_id=f"img-{index}",
                    size_bytes=len(data),
                )
            )
        usage = pb.Usage(
            input_tokens=30, input_text_tokens=20, input_image_tokens=10, output_tokens=400
        )
        usage.total_tokens = usage.input_tokens + usage.output_tokens
        yield pb.ImageEvent(
            summary=pb.JobSummary(job_id=JOB_ID, usage=usage, images_delivered=2, elapsed_ms=5)
        )


def rejection() -> status_pb2.Status:
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="request is invalid")
    status.details.add().Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="prompt", description="must not ask to be rejected"
                )
            ]
        )
    )
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason="PROMPT_REJECTED", domain="visionstudio.test")
    )
    status.details.add().Pack(
        error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1, nanos=500_000_000))
    )
    return status


@dataclass
class Server:
    target: str
    servicer: RecordingServicer


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    # It serves only the three image RPCs the client under test calls.
    servicer = RecordingServicer()  # type: ignore[abstract]
    aio_server = grpc.aio.server()
    pb_grpc.add_ImageServiceServicer_to_server(servicer, aio_server)
    port = aio_server.add_insecure_port("127.0.0.1:0")
    await aio_server.start()
    try:
        yield Server(f"127.0.0.1:{port}", servicer)
    finally:
        await aio_server.stop(None)


def kinds(events: list[pb.ImageEvent]) -> list[str | None]:
    return [event.WhichOneof("event") for event in events]


async def collect(events: AsyncIterator[pb.ImageEvent]) -> list[pb.ImageEvent]:
    return [event async for event in events]


async def test_generate_streams_events_with_key_and_mapped_enums(server: Server) -> None:
    async with AsyncImageClient(server.target, "key-1") as client:
        events = await collect(
            client.generate(
                "a lighthouse",
                number_of_images=2,
                aspect_ratio="16:9",
                quality="high",
                background="transparent",
                output_format="webp",
                include_data=True,
                timeout=30,
            )
        )

    assert kinds(events) == ["accepted", "image", "image", "summary"]
    assert [event.image.index for event in events[1:3]] == [1, 0]
    assert Image.open(io.BytesIO(events[1].image.data)).size == (6, 4)
    assert events[3].summary.usage.total_tokens == 430
    assert server.servicer.requests == [
        pb.GenerateImageRequest(
            prompt="a lighthouse",
            number_of_images=2,
            aspect_ratio=pb.ASPECT_RATIO_16_9,
            quality=pb.QUALITY_HIGH,
            background=pb.BACKGROUND_TRANSPARENT,
            output_format=pb.OUTPUT_FORMAT_WEBP,
            include_data=True,
        )
    ]
    assert server.servicer.metadata[0]["x-api-key"] == "key-1"
    assert server.servicer.time_remaining == [pytest.approx(30, abs=1)]


async def test_enum_numbers_and_prebuilt_requests_under_the_client_deadline(
    server: Server,
) -> None:
    request = pb.GenerateImageRequest(
        prompt="a fox", aspect_ratio=pb.ASPECT_RATIO_2_3, quality=pb.QUALITY_LOW
    )
    async with AsyncImageClient(server.target, "key-1", timeout=20) as client:
        await collect(
            client.generate("a fox", aspect_ratio=pb.ASPECT_RATIO_2_3, quality=pb.QUALITY_LOW)
        )
        await collect(client.generate_request(request))

    assert server.servicer.requests == [request, request]
    assert server.servicer.time_remaining == [pytest.approx(20, abs=1)] * 2


async def test_edit_sends_a_str_image_as_url_and_bytes_as_file(server: Server) -> None:
    data = png(4, 4, "green")
    async with AsyncImageClient(server.target, "key-1") as client:
        await collect(client.edit("make it night", "https://example.test/a.png"))
        await collect(client.edit("make it night", data, aspect_ratio="3:2"))

    by_url, by_file = server.servicer.requests
    assert isinstance(by_url, pb.EditImageRequest) and isinstance(by_file, pb.EditImageRequest)
    assert by_url.WhichOneof("image") == "image_url"
    assert by_url.image_url == "https://example.test/a.png"
    assert by_file.WhichOneof("image") == "image_file"
    assert by_file.image_file == data
    assert by_file.aspect_ratio == pb.ASPECT_RATIO_3_2


async def test_inpaint_sends_mask_or_border(server: Server) -> None:
    image, mask = png(4, 4, "white"), png(4, 4, "black")
    async with AsyncImageClient(server.target, "key-1") as client:
        await collect(client.inpaint("a boat", image, mask=mask))
        await collect(
            client.inpaint(
                "a boat", "https://example.test/i.png", mask="https://example.test/m.png"
            )
        )
        await collect(
            client.inpaint("a boat", image, inpaint_border_only=True, border_percentage=0.2)
        )

    with_file, with_url, border = server.servicer.requests
    assert isinstance(with_file, pb.InpaintRequest)
    assert isinstance(with_url, pb.InpaintRequest)
    assert isinstance(border, pb.InpaintRequest)
    assert with_file.mask_file == mask and with_file.image_file == image
    assert with_url.mask_url == "https://example.test/m.png"
    assert with_url.image_url == "https://example.test/i.png"
    assert border.WhichOneof("mask") is None
    assert border.inpaint_border_only
    assert border.border_percentage == pytest.approx(0.2)


async def test_unknown_enum_value_raises_naming_the_argument(server: Server) -> None:
    async with AsyncImageClient(server.target, "key-1") as client:
        with pytest.raises(ValueError, match="aspect_ratio '5:4'"):
            client.generate("a cat", aspect_ratio="5:4")
        with pytest.raises(ValueError, match="background 'HIGH'"):
            client.edit("a cat", b"image", background="HIGH")
        with pytest.raises(ValueError, match="quality 'ultra'"):
            client.inpaint("a cat", b"image", quality="ultra")
        with pytest.raises(ValueError, match="output_format value 9"):
            client.generate("a cat", output_format=9)
    assert server.servicer.requests == []


def generate_blocking(target: str, api_key: str, prompt: str) -> list[pb.ImageEvent]:
    with ImageClient(target, api_key) as client:
        return list(client.generate(prompt, quality="medium", include_data=True))


async def test_sync_client_streams_the_same_events(server: Server) -> None:
    # The server runs on this test's event loop, so the blocking client needs its own thread.
    events = await asyncio.to_thread(generate_blocking, server.target, "key-2", "a tree")

    assert kinds(events) == ["accepted", "image", "image", "summary"]
    assert events[2].image.data == IMAGES[1][1]
    assert server.servicer.metadata[0]["x-api-key"] == "key-2"
    request = server.servicer.requests[0]
    assert isinstance(request, pb.GenerateImageRequest)
    assert request.quality == pb.QUALITY_MEDIUM


async def test_describe_error_decodes_the_rich_status(server: Server) -> None:
    async with AsyncImageClient(server.target, "key-1") as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(client.generate(REJECTED_PROMPT))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert describe_error(caught.value) == EXPECTED_ERROR


async def test_describe_error_decodes_the_rich_status_of_the_sync_client(server: Server) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        await asyncio.to_thread(generate_blocking, server.target, "key-1", REJECTED_PROMPT)

    assert describe_error(caught.value) == EXPECTED_ERROR


async def test_describe_error_without_details_and_without_key(server: Server) -> None:
    async with AsyncImageClient(server.target) as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(client.generate("a cat"))

    assert describe_error(caught.value) == "UNAUTHENTICATED: missing x-api-key"


def test_describe_error_of_an_error_without_a_call() -> None:
    assert describe_error(grpc.RpcError("channel closed")) == "channel closed"


def test_plaintext_channel_refuses_root_certificates() -> None:
    with pytest.raises(ValueError, match="secure=True"):
        ImageClient(root_certificates=b"-----BEGIN CERTIFICATE-----")


async def test_cli_generate_saves_each_image_and_prints_its_path(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--target", server.target, "--api-key", "key-3", "generate", "a cat"]
    argv += ["-n", "2", "--aspect-ratio", "3:2", "--format", "png", "-o", str(tmp_path / "out")]

    # main() runs its own event loop; the server needs this one.
    assert await asyncio.to_thread(main, argv) == 0

    out = capsys.readouterr()
    first, second = tmp_path / "out" / f"{JOB_ID}-1.png", tmp_path / "out" / f"{JOB_ID}-0.png"
    assert out.out.splitlines() == [str(first), str(second)]
    assert first.read_bytes() == IMAGES[0][1]
    assert second.read_bytes() == IMAGES[1][1]
    assert f"[1/2] image 1 saved -> {first} (6x4, image/png," in out.err
    assert JOB_ID in out.err.splitlines()[-1]
    assert "430 total" in out.err.splitlines()[-1]
    request = server.servicer.requests[0]
    assert isinstance(request, pb.GenerateImageRequest)
    assert request.include_data
    assert request.number_of_images == 2
    assert request.aspect_ratio == pb.ASPECT_RATIO_3_2
    assert server.servicer.metadata[0]["x-api-key"] == "key-3"


async def test_cli_reads_target_and_key_from_the_environment(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISIONSTUDIO_TARGET", server.target)
    monkeypatch.setenv("VISIONSTUDIO_API_KEY", "key-env")
    image = tmp_path / "in.png"
    image.write_bytes(png(4, 4, "yellow"))

    argv = ["edit", "in autumn", "--image", str(image), "--quality", "low", "-o", str(tmp_path)]
    assert await asyncio.to_thread(main, argv) == 0

    request = server.servicer.requests[0]
    assert isinstance(request, pb.EditImageRequest)
    assert request.image_file == image.read_bytes()
    assert request.quality == pb.QUALITY_LOW
    assert server.servicer.metadata[0]["x-api-key"] == "key-env"


async def test_cli_inpaint_border(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--target", server.target, "--api-key", "key-3", "inpaint", "more sea"]
    argv += ["--image-url", "https://example.test/i.png", "--border", "0.25", "-o", str(tmp_path)]

    assert await asyncio.to_thread(main, argv) == 0

    request = server.servicer.requests[0]
    assert isinstance(request, pb.InpaintRequest)
    assert request.image_url == "https://example.test/i.png"
    assert request.inpaint_border_only
    assert request.border_percentage == pytest.approx(0.25)
    saved = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert saved == [tmp_path / f"{JOB_ID}-1.png", tmp_path / f"{JOB_ID}-0.png"]


def test_cli_without_a_key_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VISIONSTUDIO_API_KEY", raising=False)

    assert main(["generate", "a cat"]) == 2
    assert "VISIONSTUDIO_API_KEY" in capsys.readouterr().err


async def test_cli_prints_the_described_error_and_exits_1(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--target", server.target, "--api-key", "key-3", "generate", REJECTED_PROMPT]

    assert await asyncio.to_thread(main, [*argv, "-o", str(tmp_path)]) == 1

    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.strip() == f"error: {EXPECTED_ERROR}"
