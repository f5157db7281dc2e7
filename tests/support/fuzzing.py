"""Running hypothesis examples against one live server, and what every answer must be.

Bad input must be answered INVALID_ARGUMENT (a valid random request may just succeed against the
loopback upstream), never UNKNOWN or INTERNAL and never with a traceback, and the server must go
on serving. One server answers every example of a test: hypothesis runs in a worker thread and
submits each call to the test's event loop, where the server and the channel live, so the server
can be checked once more after the whole run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import grpc
from hypothesis import given, settings
from hypothesis import strategies as st
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.support.harness import AUTH, Harness, collect, images_of

T = TypeVar("T")

EXAMPLES = 300
CALL_TIMEOUT_S = 20.0


async def fuzz(
    strategy: st.SearchStrategy[T], check: Callable[[T], Coroutine[Any, Any, None]]
) -> None:
    """Runs `check` on every example, each on this event loop, from hypothesis in a thread."""
    loop = asyncio.get_running_loop()

    # derandomize: the same examples on every run, so CI failures reproduce; no database needed.
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
    )
    @given(strategy)
    def run(example: T) -> None:
        asyncio.run_coroutine_threadsafe(check(example), loop).result(CALL_TIMEOUT_S + 5)

    await asyncio.to_thread(run)


async def answer(call: Any) -> grpc.aio.AioRpcError | None:
    """The call's error, or None after checking that a successful stream is complete."""
    try:
        events: list[pb.ImageEvent] = await collect(call)
    except grpc.aio.AioRpcError as err:
        return err
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary", kinds
    return None


def assert_refused_cleanly(err: grpc.aio.AioRpcError | None) -> None:
    if err is None:
        return  # a valid request, served
    details = err.details() or ""
    assert details and "Traceback" not in details
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), details)


async def assert_still_serving(harness: Harness) -> None:
    call = harness.stub.GenerateImage(
        pb.GenerateImageRequest(prompt="still there?"), metadata=AUTH, timeout=CALL_TIMEOUT_S
    )
    assert len(images_of(await collect(call))) == 1
