"""An image event is sized before its bytes go in (ByteSize() of a photo-sized message encodes
it, a copy): the estimate must never let a message past the limit, and must leave the bytes
out only when they would come within a few bytes of it."""

from __future__ import annotations

import pytest
from visionstudio.server.api.grpc import mapping
from visionstudio.server.jobs.events import ImageReady

LIMIT = 64 * 1024
SLACK = 1024  # what mapping keeps free for the transport
ESTIMATE_MARGIN = 16  # the most the estimate may overstate a message


def _event(data_bytes: int, url_chars: int) -> ImageReady:
    return ImageReady(
        index=3,
        image_id="IMG123",
        url="https://images.example/" + "u" * url_chars,
        mime_type="image/png",
        width=1536,
        height=1024,
        size_bytes=LIMIT,  # the same for every size, so `head` below is exact
        data=b"\x89" * data_bytes,
    )


@pytest.mark.parametrize("url_chars", [0, 100, 2500])
def test_inline_bytes_fit_the_limit_or_are_omitted_near_it(url_chars: int) -> None:
    # Every size of image bytes around the largest that fits, exactly.
    head = mapping.to_event(_event(0, url_chars), LIMIT).ByteSize()
    largest = LIMIT - SLACK - head
    included = omitted = 0
    for data_bytes in range(largest - 2 * ESTIMATE_MARGIN, largest + ESTIMATE_MARGIN):
        event = _event(data_bytes, url_chars)
        message = mapping.to_event(event, LIMIT)
        if message.image.data_omitted:
            omitted += 1
            assert message.image.data == b""
            assert head + data_bytes + ESTIMATE_MARGIN > LIMIT - SLACK
        else:
            included += 1
            assert message.image.data == event.data
            assert message.ByteSize() <= LIMIT - SLACK
    assert included and omitted


def test_an_event_without_bytes_is_never_flagged() -> None:
    event = ImageReady(0, "IMG1", "https://images.example/a.png", "image/png", 8, 8, 10**9)
    image = mapping.to_event(event, LIMIT).image
    assert not image.data_omitted and image.data == b"" and image.size_bytes == 10**9
