"""Malformed 200 answers from the upstream (#15): before, HTML, garbage, broken base64 or a
20000x20000 image became INTERNAL with a traceback, an answer without `b64_json` was retried
three times (each 200 may be billed), and a 512x512 image was delivered for a 1024x1024
request. Now each is UNAVAILABLE, reason UPSTREAM_MALFORMED naming the deployment, asked once."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI, malformed
from tests.fake_openai.config import Failure
from tests.support.calls import rpc_error
from tests.support.harness import AUTH, Harness, collect, rich_error

ANSWERS = {
    "not JSON": malformed.not_json,
    "HTML": malformed.html,
    "broken base64": malformed.broken_base64,
    "JSON without b64_json": malformed.without_image,
    "an image too small": lambda: malformed.image_of_size((1, 1)),
    "a 20000x20000 image": lambda: malformed.image_of_size((20000, 20000)),
    "a 512x512 image for 1024x1024": lambda: malformed.image_of_size((512, 512)),
}


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
async def test_a_malformed_answer_is_unavailable_and_never_retried(
    harness: Harness, upstream: FakeOpenAI, answer: Callable[[], Failure]
) -> None:
    upstream.config.fail_next.append(answer())
    request = pb.GenerateImageRequest(prompt="a fox", aspect_ratio=pb.ASPECT_RATIO_1_1)
    err = await rpc_error(collect(harness.stub.GenerateImage(request, metadata=AUTH)))
    assert err.code() == grpc.StatusCode.UNAVAILABLE, err.details()
    assert rich_error(err)["reason"] == "UPSTREAM_MALFORMED"
    assert "image provider (" in (err.details() or "")
    assert len(upstream.requests) == 1
