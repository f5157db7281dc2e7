"""Repeating a CLI call that could not reach the server.

The call is repeated with the same idempotency key: the server answers a repeat with the first
job's (or batch's) events, so this never pays twice.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import grpc
from visionstudio.client.errors import describe_error

CALL_ATTEMPTS = 3
CALL_RETRY_S = 1.0


async def retrying(
    attempt: Callable[[], Awaitable[None]], *, worth_it: Callable[[], bool] = lambda: True
) -> None:
    """Runs `attempt`, again after UNAVAILABLE while `worth_it()` says so, at most
    CALL_ATTEMPTS times in all."""
    for number in range(1, CALL_ATTEMPTS + 1):
        try:
            await attempt()
            return
        except grpc.RpcError as err:
            if not _unreachable(err) or number == CALL_ATTEMPTS or not worth_it():
                raise
            print(f"{describe_error(err)}; trying again", file=sys.stderr)
            await asyncio.sleep(CALL_RETRY_S)


def _unreachable(err: grpc.RpcError) -> bool:
    return isinstance(err, grpc.aio.AioRpcError) and err.code() == grpc.StatusCode.UNAVAILABLE
