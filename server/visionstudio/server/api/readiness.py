"""Readiness that follows the provider: ImageService is NOT_SERVING while it cannot be reached.

The gRPC health service carries it; the HTTP surface's /readyz reads `reachable`.
"""

from __future__ import annotations

import logging

from grpc_health.v1 import health, health_pb2
from visionstudio.image.v1 import image_service_pb2
from visionstudio.server.api.grpc.health_listener import HealthListener
from visionstudio.server.background import Periodic
from visionstudio.server.provider.base import ImageProvider

log = logging.getLogger(__name__)

SERVICE_NAME = image_service_pb2.DESCRIPTOR.services_by_name["ImageService"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ProviderHealth:
    def __init__(
        self, provider: ImageProvider, servicer: health.aio.HealthServicer, interval_s: float
    ) -> None:
        self._provider = provider
        self._servicer = servicer
        self._probe = Periodic("provider-health", interval_s, self.check)
        self.reachable = False
        # Set once at SIGTERM: from then on every surface refuses new work.
        self.draining = False
        self._listener: HealthListener | None = None

    def report_to(self, listener: HealthListener | None) -> None:
        """Also sets the statuses on the health port answered off the event loop."""
        self._listener = listener

    async def check(self) -> bool:
        if self.draining:
            return False
        reachable = await self._provider.reachable()
        if reachable != self.reachable:
            log.log(
                logging.INFO if reachable else logging.ERROR,
                "provider is %s",
                "reachable" if reachable else "unreachable",
            )
        self.reachable = reachable
        status = SERVING if reachable else NOT_SERVING
        await self._servicer.set(SERVICE_NAME, status)
        if self._listener is not None:
            self._listener.set(SERVICE_NAME, status)
        return reachable

    def start(self) -> None:
        self._probe.start()

    async def stop(self) -> None:
        await self._probe.stop()

    async def shut_down(self) -> None:
        """Fails readiness on gRPC health and /readyz for good, at once."""
        self.draining = True
        await self._probe.stop()
        self.reachable = False
        await self._servicer.enter_graceful_shutdown()
        if self._listener is not None:
            self._listener.enter_graceful_shutdown()
