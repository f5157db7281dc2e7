"""A small ImageService that records what the client sends and answers with canned events."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.support.harness import png

JOB_ID = "job-7f3a"
REJECTED_PROMPT = "please reject"
EXPECTED_ERROR = (
    "INVALID_ARGUMENT: request is invalid "
    "(prompt: must not ask to be rejected; reason: PROMPT_REJECTED; retry after 1.5s)"
)
# Completion order, not index order, as the real service streams them.
IMAGES = [(1, png((6, 4), (255, 0, 0))), (0, png((6, 4), (0, 0, 255)))]

Context = grpc.aio.ServicerContext[Message, pb.ImageEvent]


@contextlib.asynccontextmanager
async def serving(servicer: pb_grpc.ImageServiceServicer) -> AsyncIterator[str]:
    """`servicer` on a real grpc.aio server on a free loopback port; yields its target."""
    server = grpc.aio.server()
    pb_grpc.add_ImageServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


_ImageRequest = pb.GenerateImageRequest | pb.EditImageRequest | pb.InpaintRequest


def canned_events(include_data: bool) -> list[pb.ImageEvent]:
    """A job of two images as the service streams it: accepted, the images, the summary."""
    events = [
        pb.ImageEvent(
            accepted=pb.JobAccepted(job_id=JOB_ID, number_of_images=2, model="gpt-image-test")
        )
    ]
    for index, data in IMAGES:
        image = pb.Image(
            index=index,
            url=f"http://images.test/{JOB_ID}/{index}",
            data=data if include_data else b"",
            mime_type="image/png",
            width=6,
            height=4,
            image_id=f"img-{index}",
            size_bytes=len(data),
        )
        events.append(pb.ImageEvent(image=image))
    usage = pb.Usage(
        input_tokens=30, input_text_tokens=20, input_image_tokens=10, output_tokens=400
    )
    usage.total_tokens = usage.input_tokens + usage.output_tokens
    summary = pb.JobSummary(job_id=JOB_ID, usage=usage, images_delivered=2, elapsed_ms=5)
    events.append(pb.ImageEvent(summary=summary))
    return events


def rejection() -> status_pb2.Status:
    """The rich status of a rejected prompt: a field violation, a reason and a retry delay."""
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="request is invalid")
    violation = error_details_pb2.BadRequest.FieldViolation(
        field="prompt", description="must not ask to be rejected"
    )
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason="PROMPT_REJECTED", domain="visionstudio.test")
    )
    delay = duration_pb2.Duration(seconds=1, nanos=500_000_000)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status


@dataclass
class RecordingServicer(pb_grpc.ImageServiceServicer):
    """Records each request, its metadata and deadline, then streams the canned events.

    It serves only the three image RPCs the client under test calls.
    """

    requests: list[Message] = field(default_factory=list)
    metadata: list[dict[str, str | bytes]] = field(default_factory=list)
    time_remaining: list[float] = field(default_factory=list)

    async def _respond(
        self, request: _ImageRequest, context: Context
    ) -> AsyncIterator[pb.ImageEvent]:
        self.requests.append(request)
        metadata = dict(context.invocation_metadata() or ())
        self.metadata.append(metadata)
        self.time_remaining.append(context.time_remaining())
        if "x-api-key" not in metadata:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing x-api-key")
        if request.prompt == REJECTED_PROMPT:
            await context.abort_with_status(rpc_status.to_status(rejection()))
        for event in canned_events(request.include_data):
            yield event

    GenerateImage = EditImage = Inpaint = _respond
