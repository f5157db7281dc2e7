"""HTTP bodies received under the budget of request bytes, and held there until parsed (#15).

Receiving a body was bounded, but parsing it was not: the JSON text, the strings made from it
and the decoded images cost several times the body (8 bodies of 139 MB took 1.3 GB). So a body
reserves what parsing it costs, measured as a multiple of its size
(`tests/api/test_body_costs.py`), keeps it until its handler has parsed it, and its bytes are
dropped then. aiohttp's own `request.read()` would find the body consumed (and would keep a
copy for the whole request): handlers call `parsed` instead.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from visionstudio.server.api.byte_budget import ByteBudget, Reservation

T = TypeVar("T")

# Peak memory while a body is received and parsed, as a multiple of its size, its own bytes
# included, measured (`python -m tests.support.parse_peak`) plus a margin. ASCII JSON: the
# chunks and their join (2x), then the strings pydantic makes (1x) and the images decoded
# from them (0.75x): 2.75.
PLAIN_COST = 3.0
# A `data:` prefix makes a copy of the base64 to strip it: 3.25.
DATA_URL_COST = 3.5
# Line-wrapped base64 is split and joined again before it is decoded: 4.3.
WRAPPED_COST = 4.5
# One character outside the BMP makes its whole string 4 bytes a character: 6.0.
WIDE_COST = 6.5


def parse_cost(raw: bytes) -> float:
    """The multiple of `raw`'s size that parsing it may cost at most (cheap: a few scans)."""
    if not raw.isascii() or b"\\u" in raw:
        return WIDE_COST
    if b"\\n" in raw or b"\\r" in raw:
        return WRAPPED_COST
    if b"data:" in raw:
        return DATA_URL_COST
    return PLAIN_COST


class ReceivedBody:
    """A request's body and its reservation, until the handler takes and parses it."""

    def __init__(self, raw: bytes, reservation: Reservation) -> None:
        self._raw = raw
        self.reservation = reservation

    def take(self) -> bytes:
        raw, self._raw = self._raw, b""
        return raw


_BODY = web.RequestKey("received_body", ReceivedBody)


async def receive(
    request: web.Request, budget: ByteBudget, *, timeout_s: float, limit: int
) -> Reservation:
    """Reserves what the body will cost, then receives it within `timeout_s` in all; raises
    HTTPRequestEntityTooLarge past `limit` bytes. The caller releases the reservation (once
    more at the request's end is harmless)."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    # Unknown length (chunked): reserve the most it may be.
    size = min(request.content_length or limit, limit)
    reservation = await budget.reserve(math.ceil(size * PLAIN_COST))
    try:
        raw = await _read(request, timeout_s, limit)
        needed = math.ceil(len(raw) * await asyncio.to_thread(parse_cost, raw))
        await reservation.resize(needed)
    except BaseException:
        await reservation.release()
        raise
    request[_BODY] = ReceivedBody(raw, reservation)
    return reservation


async def _read(request: web.Request, timeout_s: float, limit: int) -> bytes:
    # The chunks as they come, joined once: aiohttp's read() would copy the body once more.
    chunks: list[bytes] = []
    received = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.content.iter_any():
                received += len(chunk)
                if received > limit:
                    raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=received)
                chunks.append(chunk)
    except TimeoutError:
        raise web.HTTPRequestTimeout(reason="Request Body Timeout") from None
    return b"".join(chunks)


async def parsed(request: web.Request, parse: Callable[[bytes], T]) -> T:
    """The body parsed in a worker thread (parsing ~140 MB would stall every other stream);
    its bytes and its reservation are given up as soon as `parse` returns."""
    body = request.get(_BODY)
    if body is None:  # a request without a body
        return parse(b"")
    try:
        return await asyncio.to_thread(parse, body.take())
    finally:
        await body.reservation.release()
