"""A caller's deadline: the server answers before it fires, with the job id and RetryInfo, while a
detached job waits out the provider's Retry-After and then finishes its image anyway."""

from __future__ import annotations

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.api.grpc.servicer import answer_within
from visionstudio.server.settings import Settings

from tests.fake_openai import FakeOpenAI
from tests.fake_openai.config import Failure
from tests.support.calls import rpc_error
from tests.support.harness import AUTH, Harness, collect, images_of, rich_error
from tests.support.upstream_failures import openai_error

# As production assembles it: the SDK's 600 s upstream timeout, not the tests' shortened one.
PRODUCTION = {"upstream_timeout_s": Settings.model_fields["upstream_timeout_s"].default}


@pytest.mark.parametrize("harness", [PRODUCTION], indirect=True)
async def test_a_429_longer_than_the_callers_deadline_answers_with_the_job_and_retry_info(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    # Detached jobs and the 600 s upstream timeout, as in production: the job waits out the
    # 429's 60 s; the caller's 3 s run out first.
    limited = openai_error("rate_limit_exceeded", "slow down", "requests")
    upstream.config.fail_next.append(Failure(429, limited, {"Retry-After": "60"}))
    call = harness.stub.GenerateImage(
        pb.GenerateImageRequest(prompt="a ship"), metadata=AUTH, timeout=3.0
    )
    err = await rpc_error(collect(call))
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    details = rich_error(err)
    # The server's own answer, not the caller's timer: it has a reason, the job, and a delay.
    assert details["reason"] == "DEADLINE_EXCEEDED"
    assert isinstance(details["metadata"], dict) and details["metadata"]["job_id"]
    assert isinstance(details["retry"], float) and details["retry"] >= 1.0
    assert "WatchJob" in (err.details() or "")


@pytest.mark.parametrize(
    ("remaining", "expected"), [(10.0, 9.0), (30.0, 29.0), (0.5, 0.4), (0.05, 0.0)]
)
def test_the_server_answers_a_little_before_the_callers_deadline(
    remaining: float, expected: float
) -> None:
    assert answer_within(remaining) == pytest.approx(expected)


@pytest.mark.parametrize("harness", [{"max_message_bytes": 1024 * 1024}], indirect=True)
async def test_include_data_over_the_message_limit_sends_the_url_and_says_so(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.photographic = True  # about 1.5 MB per image: over a 1 MiB message
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="a ship", include_data=True), metadata=AUTH
        )
    )
    [image] = images_of(events)
    assert image.data_omitted and not image.data and image.size_bytes > 1024 * 1024
    assert image.url and events[-1].WhichOneof("event") == "summary"
    watched = await collect(
        harness.stub.WatchJob(
            pb.WatchJobRequest(job_id=events[-1].summary.job_id, include_data=True), metadata=AUTH
        )
    )
    assert images_of(watched)[0].data_omitted


async def test_include_data_within_the_limit_is_inline(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="a ship", include_data=True), metadata=AUTH
        )
    )
    [image] = images_of(events)
    assert image.data and not image.data_omitted and len(image.data) == image.size_bytes
