"""Readiness that follows the provider: ImageService is NOT_SERVING while it cannot be reached."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from grpc_health.v1 import health, health_pb2
from visionstudio.server.provider.base import ImageProvider

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ProviderHealth:
    def __init__(
        self,
        provider: ImageProvider,
        servicer: health.aio.HealthServicer,
        service_name: str,
        interval_s: float,
    ) -> None:
        self._provider = provider
        self._servicer = servicer
        self._service = service_name
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None
        self.reachable = False

    async def check(self) -> bool:
        reachable = await self._provider.reachable()
        if reachable != self.reachable:
            log.log(
                logging.INFO if reachable else logging.ERROR,
                "provider is %s",
                "reachable" if reachable else "unreachable",
            )
        self.reachable = reachable
        await self._servicer.set(self._service, SERVING if reachable else NOT_SERVING)
        return reachable

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="provider-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check()
