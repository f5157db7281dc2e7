"""Refuses new work on the HTTP surface once the server is shutting down (503 + Retry-After),
so a load balancer moves callers to another replica at once; probes, metrics and image loads
still answer."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from visionstudio.server.api.http.envelope import error_response
from visionstudio.server.errors import Unavailable

# Long enough for another replica's readiness to take the traffic.
RETRY_AFTER_S = 1.0


def refusing_when(draining: Callable[[], bool]) -> Middleware:
    @web.middleware
    async def refuse(request: web.Request, handler: Handler) -> web.StreamResponse:
        if draining() and request.method == "POST":
            error = Unavailable(
                "the server is shutting down; try again (another replica takes the call)",
                reason="SERVER_SHUTTING_DOWN",
                retry_after_s=RETRY_AFTER_S,
            )
            return error_response(error)
        return await handler(request)

    return refuse
