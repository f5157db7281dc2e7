"""The upstream's connections: aiohttp's HTTP client under the SDK's httpx2 interface.

aiohttp parses answers in C. Through httpx2's own transport (h11, pure Python) reading the
photo-sized answers (about 3 MB of JSON each) was a third of the event loop's time at saturation,
and its pool scanned every connection on each request (O(streams²) at 1,000 streams, so it had
to be split in shards); aiohttp keeps idle connections per host. #17: CPU per image at 50 in
flight 15.9 -> 14.4 ms, a sequential n=1 call 8.4 -> 4.1 ms added (bench.peer, one run each).
"""

from __future__ import annotations

import httpx2
from httpx_aiohttp.httpx2 import AiohttpTransport


class UpstreamTransport(AiohttpTransport):
    def __init__(self, connections: int) -> None:
        super().__init__(
            limits=httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await super().handle_async_request(request)
        except httpx2.ConnectTimeout as error:
            # httpx-aiohttp maps every aiohttp connection error to a connect timeout, which the
            # SDK reports as a timeout: a refused or dropped connection is one only when aiohttp
            # says so, else the deployment is not failed over.
            if isinstance(error.__cause__, TimeoutError):
                raise
            raise httpx2.ConnectError(str(error), request=request) from error.__cause__
