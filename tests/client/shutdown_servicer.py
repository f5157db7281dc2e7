"""A small ImageService whose image streams end as a server shutting down ends them, and whose
WatchJob then replays the job, as the durable service does on another replica or after restart."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.client.servicer import JOB_ID, Context, canned_events


def shutting_down(job_id: str, metadata: dict[str, str] | None = None) -> status_pb2.Status:
    """The status a stopping server ends a stream with; `metadata` instead of the job id."""
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="the server is shutting down")
    info = error_details_pb2.ErrorInfo(
        reason="SERVER_SHUTTING_DOWN",
        domain="visionstudio",
        metadata={"job_id": job_id} if metadata is None else metadata,
    )
    status.details.add().Pack(info)
    return status


@dataclass
class ShuttingDownServicer(pb_grpc.ImageServiceServicer):
    """GenerateImage: accepted and the first image, then SERVER_SHUTTING_DOWN. WatchJob: the
    whole job, unless `cuts_left` says this watch is cut the same way too."""

    cuts_left: int = 0
    requests: list[Message] = field(default_factory=list)

    async def GenerateImage(
        self, request: pb.GenerateImageRequest, context: Context
    ) -> AsyncIterator[pb.ImageEvent]:
        self.requests.append(request)
        for event in canned_events(request.include_data)[:2]:
            yield event
        await context.abort_with_status(rpc_status.to_status(shutting_down(JOB_ID)))

    async def WatchJob(
        self, request: pb.WatchJobRequest, context: Context
    ) -> AsyncIterator[pb.ImageEvent]:
        self.requests.append(request)
        if self.cuts_left > 0:
            self.cuts_left -= 1
            await context.abort_with_status(rpc_status.to_status(shutting_down(request.job_id)))
        for event in canned_events(request.include_data):
            yield event

    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        self.requests.append(request)
        return pb.ListJobsResponse()

    async def GetUsage(self, request: pb.GetUsageRequest, context: Context) -> pb.GetUsageResponse:
        self.requests.append(request)
        return pb.GetUsageResponse(jobs=3)
