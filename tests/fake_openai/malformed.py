"""Malformed 200 answers of the Images API, as a broken upstream or proxy sends them (#15):
each a `Failure` to queue in `FakeOpenAIConfig.fail_next`."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from tests.fake_openai.config import Failure


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    # Bilevel: a 20000x20000 picture takes 50 MB to make and compresses to little.
    Image.new("1", size).save(out, "PNG")
    return out.getvalue()


def _images(b64: str | None) -> Failure:
    item = {} if b64 is None else {"b64_json": b64}
    body = {"created": 0, "data": [item], "usage": None}
    return Failure(200, {}, raw=json.dumps(body).encode())


def not_json() -> Failure:
    return Failure(200, {}, raw=b"\x00\x01 upstream garbage")


def html() -> Failure:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    return Failure(200, {}, raw=page, content_type="text/html")


def broken_base64() -> Failure:
    return _images("iVBORw0KGgo*not base64*")


def without_image() -> Failure:
    return _images(None)


def image_of_size(size: tuple[int, int]) -> Failure:
    """A valid PNG of `size`: 1x1 (too small), 20000x20000 (huge) or merely the wrong size."""
    return _images(base64.b64encode(_png(size)).decode())
