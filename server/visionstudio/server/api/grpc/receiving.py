"""Receiving a call's one message: under the shared budget of request bytes, within a time,
one message of unknown size at a time per key.

gRPC says nothing of a message's size before it has arrived, so its arrival reserves what
the largest message costs (four times `max_message_bytes`: with the defaults, two such
reservations fill the budget). A caller trickling its messages would hold those
reservations for the whole receive timeout; one at a time per key, a key holds at most one
of them, and other keys' calls still get in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from visionstudio.server.api.byte_budget import ByteBudget, Reservation
from visionstudio.server.errors import DeadlineExceeded, InvalidArgument

# While a message arrives, grpc holds it about four times at its peak (its slices, one
# contiguous copy, Python's bytes, the message decoded from them; 107 MiB for one 30 MB call):
# that much of the largest message is reserved, as gRPC tells nothing of its size beforehand.
RECEIVE_COST = 4
# Once decoded, the message and the handler's copy of its bytes (the JobSpec) stay counted
# until the call first answers (its job accepted or refused).
HELD_COST = 2


@dataclass(frozen=True)
class _Undecodable:
    reason: str


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """Bytes that do not decode become a marker instead of an exception: grpc would answer
    UNKNOWN (and log a traceback); the call answers INVALID_ARGUMENT instead."""
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as exc:
            return _Undecodable(str(exc))

    return deserialize


class MessageReceiver:
    def __init__(self, budget: ByteBudget, *, max_message_bytes: int, timeout_s: float) -> None:
        self._budget = budget
        self._max_message_bytes = max_message_bytes
        self._timeout_s = timeout_s
        # One per key id (a bounded set: the configured keys).
        self._turns: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def receive(
        self, context: grpc.aio.ServicerContext[Any, Any], caller: str
    ) -> tuple[Any, Reservation]:
        """The call's message, and the bytes it holds in the budget until the call first
        answers (the caller releases them)."""
        async with self._turn(caller):
            reservation = await self._budget.reserve(self._max_message_bytes * RECEIVE_COST)
            try:
                request = await self._read(context)
                await reservation.resize(request.ByteSize() * HELD_COST)
            except BaseException:
                await reservation.release()
                raise
        return request, reservation

    @contextlib.asynccontextmanager
    async def _turn(self, caller: str) -> AsyncIterator[None]:
        turn = self._turns[caller]
        try:
            async with asyncio.timeout(self._budget.wait_s):
                await turn.acquire()
        except TimeoutError:
            raise self._budget.busy() from None
        try:
            yield
        finally:
            turn.release()

    async def _read(self, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            async with asyncio.timeout(self._timeout_s):
                request = await context.read()
        except TimeoutError:
            raise DeadlineExceeded(
                f"the request message did not arrive within {self._timeout_s:g} s",
                reason="REQUEST_RECEIVE_TIMEOUT",
            ) from None
        if request is grpc.aio.EOF:
            raise InvalidArgument("request", "the call ended before its message was sent")
        if isinstance(request, _Undecodable):
            raise InvalidArgument("request", f"is not a valid protobuf message: {request.reason}")
        return request
