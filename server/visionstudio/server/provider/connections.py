"""Connections to one upstream as several small pools instead of one large one.

httpcore scans every connection of its pool on each request and each closed response, so one
pool holding 1,000 connections costs O(streams²) on the event loop at 1,000 concurrent
streams: the health check stalled for seconds (#17). Pools of `SHARD_SIZE` keep each scan
short; a request goes to the pool with the fewest calls in flight.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import httpx2

SHARD_SIZE = 64


class ShardedTransport(httpx2.AsyncBaseTransport):
    def __init__(self, connections: int) -> None:
        count = max(1, math.ceil(connections / SHARD_SIZE))
        limits = httpx2.Limits(max_connections=SHARD_SIZE, max_keepalive_connections=SHARD_SIZE)
        self._shards = [httpx2.AsyncHTTPTransport(limits=limits) for _ in range(count)]
        self._in_flight = [0] * count

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        shard = min(range(len(self._shards)), key=self._in_flight.__getitem__)
        self._in_flight[shard] += 1
        try:
            response = await self._shards[shard].handle_async_request(request)
        except BaseException:
            self._in_flight[shard] -= 1
            raise
        # The connection stays taken until the body is read and closed.
        response.stream = _Counted(response.stream, self, shard)
        return response

    def release(self, shard: int) -> None:
        self._in_flight[shard] -= 1

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


class _Counted(httpx2.AsyncByteStream):
    def __init__(self, stream: object, owner: ShardedTransport, shard: int) -> None:
        assert isinstance(stream, httpx2.AsyncByteStream)
        self._stream = stream
        self._owner = owner
        self._shard: int | None = shard

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The stream's own iterator, not a generator of ours around it: a read cut by a
        # cancelled call would leave that generator suspended for the collector to close.
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._shard is not None:
                self._owner.release(self._shard)
                self._shard = None
