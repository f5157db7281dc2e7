"""Builds and starts the gRPC server: ImageService, the health service and reflection."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from visionstudio.image.v1 import image_service_pb2_grpc
from visionstudio.server.api.auth import ApiKeys
from visionstudio.server.api.byte_budget import ByteBudget
from visionstudio.server.api.grpc.health_listener import HealthListener
from visionstudio.server.api.grpc.interceptor import ServiceInterceptor
from visionstudio.server.api.grpc.receiving import MessageReceiver
from visionstudio.server.api.grpc.servicer import ImageService
from visionstudio.server.api.readiness import SERVICE_NAME
from visionstudio.server.api.tls import Tls
from visionstudio.server.jobs.batches import Batches
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.settings import Settings


@dataclass
class GrpcSurface:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    health_listener: HealthListener | None = None


def _options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # Image calls are long and often idle; pings keep them alive through proxies.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Hostile load (#15): bounded connections, calls per connection, time to finish the
        # handshake (a half-open connection is dropped), and idle connections closed.
        ("grpc.max_allowed_incoming_connections", settings.grpc_max_connections),
        ("grpc.max_concurrent_streams", settings.grpc_max_concurrent_streams),
        ("grpc.server_handshake_timeout_ms", round(settings.grpc_handshake_timeout_s * 1000)),
        ("grpc.max_connection_idle_ms", round(settings.grpc_max_connection_idle_s * 1000)),
        # Off: with it a second server on a busy port silently takes half the calls.
        ("grpc.so_reuseport", 0),
        # Receive windows open to a message's size only while a handler reads it. With BDP
        # probing they grow on their own (to hundreds of MB on loopback), so a caller refused
        # from its headers could still park that much in the server; off, it parks 64 KiB
        # per call, and a 3 MB upload is no slower (bench: 4-8 ms against 8-10 ms).
        ("grpc.http2.bdp_probe", 0),
    ]


async def start_grpc(
    settings: Settings,
    keys: ApiKeys,
    metrics: Metrics,
    studio: ImageStudio,
    queries: JobQueries,
    batches: Batches,
    health_servicer: health.aio.HealthServicer,
    tls: Tls | None,
    request_bytes: ByteBudget,
) -> GrpcSurface:
    receiving = MessageReceiver(
        request_bytes,
        max_message_bytes=settings.max_message_bytes,
        timeout_s=settings.request_body_timeout_s,
    )
    server = grpc.aio.server(
        interceptors=[ServiceInterceptor(keys, metrics, receiving)], options=_options(settings)
    )
    image_service_pb2_grpc.add_ImageServiceServicer_to_server(
        ImageService(
            studio,
            queries,
            batches,
            max_call_s=settings.max_call_s,
            max_message_bytes=settings.max_message_bytes,
        ),
        server,
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{settings.host}:{settings.grpc_port}"
    port = server.add_secure_port(address, tls.grpc) if tls else server.add_insecure_port(address)
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    listener = None
    if settings.health_port is not None:
        listener = HealthListener(settings.host, settings.health_port)
        listener.start()
    return GrpcSurface(server, port, health_servicer, listener)
