"""Building batch items and reading batch streams, for the batch tests."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb


async def collect_batch(call: AsyncIterable[pb.BatchEvent]) -> list[pb.BatchEvent]:
    return [event async for event in call]


def generate(
    item_id: str, prompt: str, n: int = 1, ratio: Any = 0, quality: Any = 0
) -> pb.BatchRequestItem:
    request = pb.GenerateImageRequest(
        prompt=prompt, number_of_images=n, aspect_ratio=ratio, quality=quality
    )
    return pb.BatchRequestItem(item_id=item_id, generate=request)


def kinds(events: list[pb.BatchEvent]) -> list[str]:
    return [str(event.WhichOneof("event")) for event in events]


def of_kind(events: list[pb.BatchEvent], kind: str) -> list[Any]:
    """The events' `kind` members (e.g. "image", "item_ended")."""
    return [getattr(event, kind) for event in events if event.WhichOneof("event") == kind]


async def read_batch(call: grpc.aio.UnaryStreamCall[Any, pb.BatchEvent]) -> list[pb.BatchEvent]:
    """The remaining events of a call already read from (iteration cannot follow read())."""
    events = []
    while isinstance(event := await call.read(), pb.BatchEvent):
        events.append(event)
    return events
