"""Fuzzing the gRPC surface with hypothesis: arbitrary request messages, each refused cleanly
or served (see tests/support/fuzzing.py for what every answer must be)."""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from google.protobuf.message import Message
from hypothesis import strategies as st
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.support.fuzzing import (
    CALL_TIMEOUT_S,
    answer,
    assert_refused_cleanly,
    assert_still_serving,
    fuzz,
)
from tests.support.harness import AUTH, Harness, png

T = TypeVar("T")
E = TypeVar("E", bound=int)

# --- strategies ----------------------------------------------------------------------------

INT32 = st.integers(-(2**31), 2**31 - 1)


def _mostly(usual: st.SearchStrategy[T], odd: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`odd` in about one draw of eight: most examples then pass the first checks of a request
    and reach the later ones (sources, masks, borders) instead of all failing on field one."""
    return st.integers(0, 7).flatmap(lambda k: odd if k == 0 else usual)


# 1 to 3 are valid (a real render upstream); any other int32 must be refused (0 means 1).
COUNTS = _mostly(st.integers(0, 3), INT32)
# Previews are rarer: each one is a further render upstream.
PARTIAL_IMAGES = _mostly(st.just(0), st.one_of(st.integers(1, 4), INT32))
# A repeated key with other parameters must be refused; one around the 128-character limit too.
IDEMPOTENCY_KEYS = _mostly(st.just(""), st.one_of(st.text(), st.text(min_size=127, max_size=129)))


def _enum(values: list[E], of_int: Callable[[int], E]) -> st.SearchStrategy[E]:
    # proto3 enums are open: any int32 arrives, not just the declared numbers.
    return _mostly(st.sampled_from(values), INT32.map(of_int))


ASPECT_RATIOS = _enum(pb.AspectRatio.values(), pb.AspectRatio.ValueType)
QUALITIES = _enum(pb.Quality.values(), pb.Quality.ValueType)
BACKGROUNDS = _enum(pb.Background.values(), pb.Background.ValueType)
FORMATS = _enum(pb.OutputFormat.values(), pb.OutputFormat.ValueType)

PROMPTS = _mostly(
    st.text(min_size=1),  # any unicode
    st.one_of(
        st.sampled_from(
            ["", " \t\n", "\x00", "a" * 32_000, "é" * 32_001, "\u202e\ufeff\U0001f600"]
        ),
        # Long ones around the 32,000-character limit, built by repetition to stay cheap.
        st.tuples(st.text(min_size=1, max_size=3), st.integers(31_990, 40_000)).map(
            lambda t: (t[0] * t[1])[: t[1]]
        ),
    ),
)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header that promises far more pixels than its (empty) data holds."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"")
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


SMALL_PNG = png((64, 48))
IMAGE_SEEDS = [
    SMALL_PNG,
    png((1, 1)),
    png((64, 64), (0, 0, 0, 0), "RGBA"),  # fully transparent: a mask that edits everything
    png((64, 64), (0, 0, 0, 255), "RGBA"),  # fully opaque: a mask that edits nothing
    SMALL_PNG[: len(SMALL_PNG) // 2],  # truncated
    _png_claiming(60_000, 60_000),  # a decompression bomb's header
    _png_claiming(0, 0),
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
]
IMAGE_BYTES = st.one_of(st.sampled_from(IMAGE_SEEDS), st.binary(max_size=4096))

# Only addresses, some spelled the way only the resolver reads them (2130706434 and 0x7f.2 are
# 127.0.0.2), so no example asks DNS; the harness allows 127.0.0.1 alone, so every one of them
# must be refused before a connection is made.
HOSTS = [
    "127.0.0.2", "169.254.169.254", "[::1]", "[::ffff:169.254.169.254]", "0.0.0.0", "10.0.0.1",
    "192.168.1.1", "100.64.0.1", "224.0.0.1", "[fe80::1%25eth0]", "2130706434", "0x7f.2",
    "user:pass@127.0.0.2",
]  # fmt: skip
WEIRD_URLS = [
    "file:///etc/passwd", "http://169.254.169.254/latest/meta-data/iam/", "gopher://127.0.0.2:70/_x",
    "ftp://127.0.0.2/x.png", "javascript:alert(1)", "http://", "https://", "http:///x.png", "",
    " ", "data:", "data:,", "data:image/png;base64,", "data:image/png;base64,!!!!",
    "data:image/png;base64,iVBORw0KGgo", "data:image/png;base64,iVBORw0KGgo=====",
    "data:image/png,%89PNG%0D%0A", "DATA:image/png;base64," + base64.b64encode(SMALL_PNG).decode(),
    "http://127.0.0.2:99999/", "http://0.0.0.0:0/", "http://[::1/", "http://127.0.0.2\x00.x/",
    "http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3/",
]  # fmt: skip
URLS = st.one_of(
    st.sampled_from(WEIRD_URLS),
    st.builds(
        "{}{}{}/{}".format,
        st.sampled_from(["http://", "https://", "HTTP://", "gopher://", "file://", "data:"]),
        st.sampled_from(HOSTS),
        st.one_of(st.just(""), st.integers(0, 99_999).map(":{}".format)),
        st.text(max_size=40),
    ),
    st.text(),
    st.text(max_size=200).map("data:image/png;base64,{}".format),
    IMAGE_BYTES.map(lambda b: "data:image/png;base64," + base64.b64encode(b).decode()),
)
BORDERS = _mostly(
    st.floats(0.01, 0.5),
    st.one_of(
        st.floats(width=32),  # NaN, infinities, negatives and subnormals included
        st.sampled_from([0.0, -0.0, 0.00999, 0.50001, math.nan, math.inf, -math.inf]),
    ),
)


def _set_source(draw: st.DrawFn, request: Message, name: str, *, usually: bool = True) -> None:
    """Sets the oneof `name` to a URL or a file, or leaves it unset (usually or rarely)."""
    present, absent = st.sampled_from(["url", "file"]), st.none()
    kind = draw(_mostly(present, absent) if usually else _mostly(absent, present))
    if kind == "url":
        setattr(request, f"{name}_url", draw(URLS))
    elif kind == "file":
        setattr(request, f"{name}_file", draw(IMAGE_BYTES))


GENERATE = st.builds(
    pb.GenerateImageRequest,
    prompt=PROMPTS,
    number_of_images=COUNTS,
    aspect_ratio=ASPECT_RATIOS,
    quality=QUALITIES,
    background=BACKGROUNDS,
    include_data=st.booleans(),
    output_format=FORMATS,
    partial_images=PARTIAL_IMAGES,
    idempotency_key=IDEMPOTENCY_KEYS,
)


@st.composite
def edit_requests(draw: st.DrawFn) -> pb.EditImageRequest:
    request = pb.EditImageRequest(
        prompt=draw(PROMPTS),
        number_of_images=draw(COUNTS),
        aspect_ratio=draw(ASPECT_RATIOS),
        quality=draw(QUALITIES),
        background=draw(BACKGROUNDS),
        include_data=draw(st.booleans()),
        output_format=draw(FORMATS),
        partial_images=draw(PARTIAL_IMAGES),
        idempotency_key=draw(IDEMPOTENCY_KEYS),
    )
    _set_source(draw, request, "image")
    return request


@st.composite
def inpaint_requests(draw: st.DrawFn) -> pb.InpaintRequest:
    border_only = draw(st.booleans())
    request = pb.InpaintRequest(
        prompt=draw(PROMPTS),
        number_of_images=draw(COUNTS),
        quality=draw(QUALITIES),
        include_data=draw(st.booleans()),
        output_format=draw(FORMATS),
        inpaint_border_only=border_only,
        border_percentage=draw(BORDERS),
        idempotency_key=draw(IDEMPOTENCY_KEYS),
    )
    _set_source(draw, request, "image")
    _set_source(draw, request, "mask", usually=not border_only)  # border-only takes no mask
    return request


@pytest.mark.parametrize(
    ("rpc", "requests"),
    [("GenerateImage", GENERATE), ("EditImage", edit_requests()), ("Inpaint", inpaint_requests())],
)
async def test_arbitrary_requests_are_refused_cleanly_or_served(
    harness: Harness, rpc: str, requests: st.SearchStrategy[Message]
) -> None:
    method: Callable[..., Any] = getattr(harness.stub, rpc)

    async def check(request: Message) -> None:
        call = method(request, metadata=AUTH, timeout=CALL_TIMEOUT_S)
        assert_refused_cleanly(await answer(call))

    await fuzz(requests, check)
    await assert_still_serving(harness)
