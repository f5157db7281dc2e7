"""grpc.health.v1 on a port of its own, answered by grpc's threads instead of the event loop.

On the service's port a health check is answered by the event loop that runs every image
stream: at 1,000 streams of photo-sized images that loop is busy for seconds, and a check
waits behind it (p99 462 ms). Here a synchronous grpc server answers it from a worker thread,
which needs only the GIL (the loop hands it over every few milliseconds). It reports what
the main port's health service reports, readiness included (`api/readiness.py` sets both).
Plaintext, like Kubernetes' gRPC probes: it carries nothing but statuses.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# Probes are small and few; more at once wait in grpc's queue instead of taking threads.
_WORKERS = 2
_MAX_CONCURRENT_CHECKS = 64


class HealthListener:
    def __init__(self, host: str, port: int) -> None:
        self._servicer = health.HealthServicer()
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="health"),
            maximum_concurrent_rpcs=_MAX_CONCURRENT_CHECKS,
            options=[("grpc.so_reuseport", 0)],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, self._server)
        self.port = self._server.add_insecure_port(f"{host}:{port}")

    def start(self) -> None:
        self._server.start()
        self._servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    def set(self, service: str, status: int) -> None:
        self._servicer.set(service, status)

    def enter_graceful_shutdown(self) -> None:
        self._servicer.enter_graceful_shutdown()

    def stop(self) -> None:
        self._server.stop(grace=None)
