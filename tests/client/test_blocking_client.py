"""ImageClient on a grpc_testing channel: the test plays the server, call by call.

The client blocks, so each call runs on a worker thread while the test answers it.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import grpc_testing
import pytest
from google.protobuf.message import Message
from grpc_status import rpc_status
from visionstudio.client import ImageClient, blocking_client, describe_error
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.client.servicer import EXPECTED_ERROR, REJECTED_PROMPT, canned_events, rejection

_SERVICE = pb.DESCRIPTOR.services_by_name["ImageService"]
_METHODS = _SERVICE.methods_by_name
_WAIT_S = 10


@pytest.fixture
def channel(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fake channel every ImageClient of the test opens."""
    fake = grpc_testing.channel([_SERVICE], grpc_testing.strict_real_time())
    monkeypatch.setattr(blocking_client, "open_channel", lambda target, tls: fake)
    return fake


@pytest.fixture
def worker() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def test_generate_streams_the_events_with_the_key(channel: Any, worker: ThreadPoolExecutor) -> None:
    with ImageClient("server.test:50051", "key-2") as client:
        events = worker.submit(
            lambda: list(client.generate("a tree", quality="medium", include_data=True))
        )
        metadata, request, rpc = channel.take_unary_stream(_METHODS["GenerateImage"])
        for event in canned_events(include_data=True):
            rpc.send_response(event)
        rpc.terminate((), grpc.StatusCode.OK, "")

        assert events.result(_WAIT_S) == canned_events(include_data=True)
    assert request == pb.GenerateImageRequest(
        prompt="a tree", quality=pb.QUALITY_MEDIUM, include_data=True
    )
    assert ("x-api-key", "key-2") in metadata


def test_stopping_early_cancels_the_stream(channel: Any, worker: ThreadPoolExecutor) -> None:
    def first_event(client: ImageClient) -> pb.ImageEvent:
        # Leaving the loop drops the iterator, which closes it: what a caller's `break` does.
        for event in client.watch("job-1"):
            return event
        raise AssertionError("no event")

    with ImageClient(api_key="key-1") as client:
        first = worker.submit(first_event, client)
        _, request, rpc = channel.take_unary_stream(_METHODS["WatchJob"])
        rpc.send_response(canned_events(include_data=False)[0])

        assert first.result(_WAIT_S).accepted.job_id
        worker.submit(rpc.cancelled).result(_WAIT_S)
    assert request == pb.WatchJobRequest(job_id="job-1")


@pytest.mark.parametrize(
    ("call", "method", "request_", "response"),
    [
        (
            lambda c: c.get_job("job-1"),
            "GetJob",
            pb.GetJobRequest(job_id="job-1"),
            pb.Job(job_id="job-1", status=pb.JOB_STATUS_SUCCEEDED),
        ),
        (
            lambda c: c.list_jobs(page_size=5, page_token="next"),
            "ListJobs",
            pb.ListJobsRequest(page_size=5, page_token="next"),
            pb.ListJobsResponse(jobs=[pb.Job(job_id="job-1")], next_page_token="more"),
        ),
        (lambda c: c.usage(), "GetUsage", pb.GetUsageRequest(), pb.GetUsageResponse(images=2)),
    ],
)
def test_unary_calls_return_the_message(
    channel: Any,
    worker: ThreadPoolExecutor,
    call: Callable[[ImageClient], Message],
    method: str,
    request_: Message,
    response: Message,
) -> None:
    with ImageClient(api_key="key-1", timeout=20) as client:
        answer = worker.submit(call, client)
        metadata, request, rpc = channel.take_unary_unary(_METHODS[method])
        rpc.terminate(response, (), grpc.StatusCode.OK, "")

        assert answer.result(_WAIT_S) == response
    assert request == request_
    assert ("x-api-key", "key-1") in metadata


def test_describe_error_decodes_the_rich_status(channel: Any, worker: ThreadPoolExecutor) -> None:
    with ImageClient(api_key="key-1") as client:
        events = worker.submit(lambda: list(client.generate(REJECTED_PROMPT)))
        _, _, rpc = channel.take_unary_stream(_METHODS["GenerateImage"])
        status = rpc_status.to_status(rejection())
        rpc.terminate(status.trailing_metadata, status.code, status.details)

        with pytest.raises(grpc.RpcError) as caught:
            events.result(_WAIT_S)
    assert describe_error(caught.value) == EXPECTED_ERROR


def test_plaintext_channel_refuses_root_certificates() -> None:
    with pytest.raises(ValueError, match="secure=True"):
        ImageClient(root_certificates=b"-----BEGIN CERTIFICATE-----")
