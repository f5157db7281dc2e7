"""The raw 200 answer read in place: every JSON shape an encoder may write gives the same image
and usage, and anything unlike the API's answer is read whole (and judged as before)."""

from __future__ import annotations

import io

import orjson
import pybase64
import pytest
from PIL import Image
from visionstudio.server.provider.answers import MalformedAnswer, parsed_answer

SIZE = (32, 16)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", SIZE, (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


PNG = _png()
B64 = pybase64.b64encode(PNG).decode()
USAGE = {"input_tokens": 3, "output_tokens": 7, "total_tokens": 10}

BODIES = {
    "compact": orjson.dumps({"created": 1, "data": [{"b64_json": B64}], "usage": USAGE}),
    "spaced": b'{"created": 1, "data": [{"b64_json" : "'
    + B64.encode()
    + b'"}], "usage": '
    + orjson.dumps(USAGE)
    + b"}",
    "escaped slashes": orjson.dumps({"data": [{"b64_json": B64}], "usage": USAGE}).replace(
        b"/", b"\\/"
    ),
    "a b64_json elsewhere first": orjson.dumps(
        {"meta": {"b64_json": "ignored"}, "data": [{"b64_json": B64}], "usage": USAGE}
    ),
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_every_shape_gives_the_same_image_and_usage(body: bytes) -> None:
    data, usage = parsed_answer(body, SIZE, "up")
    assert data == PNG
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (3, 7, 10)


@pytest.mark.parametrize(
    "body",
    [
        b'<html>"b64_json": "abc"</html>',
        b'{"data": [{"b64_json": "' + B64.encode() + b'"}',  # cut short
        orjson.dumps({"data": [{"b64_json": B64[:-3] + "*!*"}]}),
    ],
)
def test_broken_answers_are_still_malformed(body: bytes) -> None:
    with pytest.raises(MalformedAnswer):
        parsed_answer(body, SIZE, "up")
