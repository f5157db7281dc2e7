"""A cap on the HTTP surface's open connections that keeps the service reachable under a
slowloris attack.

aiohttp closes a connection that sends no complete request within its keep-alive timeout, but
it has no cap: 20,000 half-sent requests used every file descriptor. At the cap, the oldest
connection that is not inside a request (an idle keep-alive, or one still sending its
headers) is closed to make room, so a new caller (a health probe) always gets in; only when
every connection is busy with a request is the newcomer closed instead.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


class _Connection(asyncio.Protocol):
    """Passes every event to aiohttp's own protocol, and tells the guard it opened/closed."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.inner.connection_made(transport)
        self._guard.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.closed(self)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """Open connections in opening order (a dict keeps it), and which are inside a request."""

    def __init__(self, max_connections: int) -> None:
        self._max = max_connections
        self._open: dict[_Connection, None] = {}
        self._busy: dict[object, int] = {}  # aiohttp's protocol -> requests in progress
        self.evicted = 0

    @property
    def open_count(self) -> int:
        return len(self._open)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Connection(self, factory())

    def opened(self, conn: _Connection) -> None:
        if len(self._open) >= self._max and not self._evict_one():
            # Every connection is serving a request: the newcomer waits its turn elsewhere.
            self._close(conn)
            return
        self._open[conn] = None

    def closed(self, conn: _Connection) -> None:
        self._open.pop(conn, None)
        self._busy.pop(conn.inner, None)

    def request_started(self, protocol: object) -> None:
        self._busy[protocol] = self._busy.get(protocol, 0) + 1

    def request_finished(self, protocol: object) -> None:
        left = self._busy.get(protocol, 0) - 1
        if left > 0:
            self._busy[protocol] = left
        else:
            self._busy.pop(protocol, None)

    def _evict_one(self) -> bool:
        for conn in self._open:
            if conn.inner not in self._busy:
                del self._open[conn]
                self._close(conn)
                self.evicted += 1
                return True
        return False

    @staticmethod
    def _close(conn: _Connection) -> None:
        if conn.transport is not None:
            # abort: a half-sent request has no answer coming, and nothing is worth flushing.
            conn.transport.abort()  # type: ignore[attr-defined]


class GuardedSite(web.SockSite):
    """aiohttp's SockSite with every accepted connection passing through the guard."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: Any,
        guard: ConnectionGuard,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 1024,
    ) -> None:
        super().__init__(runner, sock, ssl_context=ssl_context, backlog=backlog)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.wrap(server),
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
        )
