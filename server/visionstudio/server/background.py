"""A piece of work repeated at an interval in a task of its own, stopped on request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

log = logging.getLogger(__name__)


class Periodic:
    """Runs `tick` every `interval_s` (first at once when `at_start`) until `stop`.

    A tick that fails is logged and tried again next interval: one bad pass (a database
    restarting, say) must not end the background work for good.
    """

    def __init__(
        self,
        name: str,
        interval_s: float,
        tick: Callable[[], Awaitable[object]],
        *,
        at_start: bool = False,
    ) -> None:
        self._name = name
        self._interval_s = interval_s
        self._tick = tick
        self._at_start = at_start
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> Periodic:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _run(self) -> None:
        if not self._at_start:
            await asyncio.sleep(self._interval_s)
        while True:
            try:
                await self._tick()
            except Exception:
                log.exception("%s failed; trying again in %g s", self._name, self._interval_s)
            await asyncio.sleep(self._interval_s)
