"""Streaming: partial previews, then the completed image, as the SDK's typed events."""

from __future__ import annotations

from openai import AsyncOpenAI
from openai.types import (
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
)

from tests.fake_openai_tests.sdk import MODEL, decode_b64, photo, refusal, upload


async def test_stream_generate_yields_partials_then_completed(client: AsyncOpenAI) -> None:
    stream = await client.images.generate(
        model=MODEL, prompt="a fox", size="1536x864", stream=True, partial_images=2
    )
    events = [event async for event in stream]
    assert [type(e) for e in events] == [
        ImageGenPartialImageEvent,
        ImageGenPartialImageEvent,
        ImageGenCompletedEvent,
    ]
    partials = [e for e in events if isinstance(e, ImageGenPartialImageEvent)]
    assert [e.partial_image_index for e in partials] == [0, 1]
    completed = events[-1]
    assert isinstance(completed, ImageGenCompletedEvent)
    assert completed.size == "1536x864" and completed.usage.output_tokens > 0
    assert decode_b64(completed.b64_json).size == (1536, 864)
    assert all(decode_b64(e.b64_json).size == (1536, 864) for e in partials)


async def test_stream_edit_yields_edit_events(client: AsyncOpenAI) -> None:
    stream = await client.images.edit(
        model=MODEL, prompt="x", image=upload(photo()), stream=True, partial_images=1
    )
    events = [event async for event in stream]
    assert [type(e) for e in events] == [ImageEditPartialImageEvent, ImageEditCompletedEvent]


async def test_stream_with_n2_refused(client: AsyncOpenAI) -> None:
    body = await refusal(client.images.generate(model=MODEL, prompt="x", stream=True, n=2))
    assert body["param"] == "n"
