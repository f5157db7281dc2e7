"""The image in a 200 answer, checked before anything uses it (#15): a broken upstream or
proxy may answer 200 with HTML, no image, broken base64, or an image of another size. Each
becomes `MalformedAnswer` (UNAVAILABLE, reason UPSTREAM_MALFORMED, naming the upstream) and is
never retried: the call may have been billed, and the same upstream is likely to answer the
same way. An image of another size than the request's is refused, never delivered at a size
the contract does not promise."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image
from visionstudio.server.errors import Unavailable


class MalformedAnswer(Unavailable):
    reason = "UPSTREAM_MALFORMED"


def image_bytes(b64: object, size: tuple[int, int], upstream: str) -> bytes:
    """The decoded image of `size` from an answer's `b64_json`."""
    if not isinstance(b64, str) or not b64:
        raise MalformedAnswer(f"the image provider ({upstream}) answered without an image")
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedAnswer(
            f"the image provider ({upstream}) sent an image that is not valid base64"
        ) from None
    got = _dimensions(data, upstream)
    if got != size:
        raise MalformedAnswer(
            f"the image provider ({upstream}) sent a {got[0]}x{got[1]} image for a "
            f"{size[0]}x{size[1]} request"
        )
    return data


def _dimensions(data: bytes, upstream: str) -> tuple[int, int]:
    """From the header alone: nothing is decoded, whatever size it claims."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError:
        raise MalformedAnswer(
            f"the image provider ({upstream}) sent an image of implausibly many pixels"
        ) from None
    except (OSError, ValueError, SyntaxError):
        raise MalformedAnswer(
            f"the image provider ({upstream}) sent bytes that are not an image"
        ) from None


def unreadable(upstream: str) -> MalformedAnswer:
    """A 200 whose body is not the JSON the API answers with (HTML, garbage)."""
    return MalformedAnswer(f"the image provider ({upstream}) sent an answer that is not JSON")
