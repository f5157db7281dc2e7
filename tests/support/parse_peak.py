"""The memory one HTTP body costs while it is parsed, measured in a fresh process:
`python -m tests.support.parse_peak KIND MB` prints the body's cost factor by `parse_cost`
and the measured peak (its own bytes included), both as multiples of its size (Linux)."""

from __future__ import annotations

import base64
import gc
import sys
from pathlib import Path

from visionstudio.server.api.http.bodies import parse_cost
from visionstudio.server.api.http.models import ENDPOINTS
from visionstudio.server.errors import ServiceError

KINDS = ("prompt", "image", "data_url", "wrapped", "wide")
_INPAINT = ENDPOINTS[2]


def _file(kind: str, size: int) -> bytes:
    encoded = base64.b64encode(b"\x89PNG" + b"\x07" * (size * 3 // 8))
    if kind == "data_url":
        return b"data:image/png;base64," + encoded
    if kind == "wrapped":  # `base64` without -w0: a line break every 76 characters
        return b"\\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    return encoded


def body(kind: str, size: int) -> bytes:
    """About `size` bytes of inpaint body of `kind`."""
    if kind == "prompt":
        return b'{"prompt":"' + b"a" * size + b'"}'
    if kind == "wide":  # one character outside the BMP widens the whole string
        return b'{"prompt":"' + b"a" * size + "\U0001f600".encode() + b'"}'
    data = _file(kind, size)
    return b'{"prompt":"x","image_file":"' + data + b'","mask_file":"' + data + b'"}'


def _kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


def main() -> None:
    kind, size = sys.argv[1], int(float(sys.argv[2]) * 1024 * 1024)
    raw = body(kind, size)
    gc.collect()
    before = _kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
    try:
        spec = _INPAINT.parse(raw)
    except ServiceError:
        spec = None
    peak = (_kib("VmHWM") - before) * 1024 + len(raw)
    print(parse_cost(raw), peak / len(raw), spec is not None)


if __name__ == "__main__":
    main()
