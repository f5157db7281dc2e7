"""Assembles the service from settings, runs the gRPC and HTTP servers, and shuts them down."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from dataclasses import dataclass

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from visionstudio.image.v1 import image_service_pb2, image_service_pb2_grpc
from visionstudio.server.api.auth import ApiKeys
from visionstudio.server.api.grpc.interceptor import ServiceInterceptor
from visionstudio.server.api.grpc.servicer import ImageService
from visionstudio.server.api.http.server import HttpApp
from visionstudio.server.api.readiness import ProviderHealth
from visionstudio.server.jobs.admission import Admission
from visionstudio.server.jobs.links import UrlSigner, load_or_create_key
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.prep import Prep
from visionstudio.server.prep.fetch import AddressPolicy, Fetcher, FetchLimits
from visionstudio.server.provider.base import ImageProvider
from visionstudio.server.provider.budget import ProviderBudget
from visionstudio.server.settings import Settings, limits
from visionstudio.server.store import BlobStore, JobStore, open_stores
from visionstudio.server.store.budget_tokens import PostgresTokens
from visionstudio.server.store.retention import Retention

log = logging.getLogger(__name__)

SERVICE_NAME = image_service_pb2.DESCRIPTOR.services_by_name["ImageService"].full_name


@dataclass
class RunningService:
    grpc_server: grpc.aio.Server
    http_runner: web.AppRunner
    grpc_port: int
    http_port: int
    base_url: str
    health: health.aio.HealthServicer
    provider_health: ProviderHealth
    provider: ImageProvider
    fetcher: Fetcher
    jobs: JobStore
    blobs: BlobStore
    studio: ImageStudio
    retention: Retention
    budget: ProviderBudget

    async def stop(self, grace_s: float) -> None:
        """Stops taking calls, lets in-flight streams and jobs finish within `grace_s`, then
        closes."""
        deadline = time.monotonic() + grace_s
        await self.health.enter_graceful_shutdown()
        await self.provider_health.stop()
        await self.retention.stop()
        await self.grpc_server.stop(grace_s)
        await self.http_runner.cleanup()
        # Jobs whose callers left run on in the background: they get what is left of the
        # grace, and their final records are written before the stores close.
        await self.studio.drain(max(0.0, deadline - time.monotonic()))
        await self.provider.close()
        await self.fetcher.close()
        await self.budget.close()
        await self.jobs.close()
        await self.blobs.close()


@dataclass(frozen=True)
class _Tls:
    grpc: grpc.ServerCredentials
    http: ssl.SSLContext


def _tls(settings: Settings) -> _Tls | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    cert = settings.tls_cert_file.read_bytes()
    key = settings.tls_key_file.read_bytes()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return _Tls(grpc=grpc.ssl_server_credentials([(key, cert)]), http=context)


async def start(
    settings: Settings,
    provider: ImageProvider,
    keys: ApiKeys,
    metrics: Metrics,
    budget: ProviderBudget,
) -> RunningService:
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)

    shared_budget = settings.provider_budget_shared and budget.enabled
    database_url = settings.database_url or ""
    if shared_budget and not database_url.startswith(("postgresql://", "postgres://")):
        raise ValueError("VISIONSTUDIO_PROVIDER_BUDGET_SHARED needs a PostgreSQL database_url")
    jobs, blobs = await open_stores(
        database_url=settings.database_url, blob_url=settings.blob_url, data_dir=data_dir
    )
    if shared_budget:
        tokens = await PostgresTokens.open(
            database_url, settings.provider_account, budget.per_minute
        )
        budget.share(tokens)
    fetcher = Fetcher(
        FetchLimits(
            max_bytes=settings.max_input_bytes,
            total_timeout_s=settings.fetch_timeout_s,
            connect_timeout_s=settings.fetch_connect_timeout_s,
            max_redirects=settings.fetch_max_redirects,
        ),
        AddressPolicy(settings.url_allowlist),
    )
    signing_key = (
        settings.url_signing_key.get_secret_value().encode()
        if settings.url_signing_key
        else load_or_create_key(data_dir / "url-signing-key")
    )

    # The HTTP socket is bound first: image URLs name its port, and port 0 picks a free one.
    http_socket = socket.create_server((settings.host, settings.http_port))
    http_port = int(http_socket.getsockname()[1])
    scheme = "https" if settings.tls_cert_file else "http"
    base_url = (settings.public_url or f"{scheme}://localhost:{http_port}").rstrip("/")
    signer = UrlSigner(signing_key, base_url, settings.url_ttl_s)
    queries = JobQueries(
        jobs=jobs,
        blobs=blobs,
        signer=signer,
        url_ttl_s=settings.url_ttl_s,
        progress_interval_s=settings.progress_interval_s,
        # A job still "running" long after any job could is one whose replica died.
        abandoned_after_s=2 * settings.max_call_s,
    )
    studio = ImageStudio(
        provider=provider,
        prep=Prep(fetcher, max_pixels=settings.max_input_pixels),
        blobs=blobs,
        jobs=jobs,
        queries=queries,
        max_input_bytes=settings.max_input_bytes,
        admission=Admission(limits(settings)),
        metrics=metrics,
        progress_interval_s=settings.progress_interval_s,
        max_job_s=settings.max_call_s,
        detach=settings.detach_jobs,
        idempotency_window_s=settings.idempotency_window_s,
    )
    retention = Retention(
        jobs, blobs, keep_s=settings.retention_s, interval_s=settings.retention_interval_s
    )
    http = HttpApp(
        keys=keys,
        signer=signer,
        blobs=blobs,
        jobs=jobs,
        studio=studio,
        max_call_s=settings.max_call_s,
        max_input_bytes=settings.max_input_bytes,
        metrics=metrics,
        readiness=lambda: provider_health.reachable,
    )
    # handler_cancellation: an HTTP caller hanging up cancels its job, as a cancelled RPC does.
    http_runner = web.AppRunner(http.build(), access_log=None, handler_cancellation=True)
    await http_runner.setup()
    tls = _tls(settings)
    await web.SockSite(http_runner, http_socket, ssl_context=tls.http if tls else None).start()
    server = grpc.aio.server(
        interceptors=[ServiceInterceptor(keys, metrics)],
        options=[
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            # Image calls are long and often idle; pings keep them alive through proxies.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    image_service_pb2_grpc.add_ImageServiceServicer_to_server(
        ImageService(studio, queries, max_call_s=settings.max_call_s), server
    )
    health_servicer = health.aio.HealthServicer()
    provider_health = ProviderHealth(
        provider, health_servicer, SERVICE_NAME, settings.health_probe_interval_s
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{settings.host}:{settings.grpc_port}"
    grpc_port = (
        server.add_secure_port(address, tls.grpc) if tls else server.add_insecure_port(address)
    )
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await provider_health.check()
    provider_health.start()
    retention.start()
    log.info("gRPC on port %d, HTTP on %s, model %s", grpc_port, base_url, provider.rules.model)
    return RunningService(
        grpc_server=server,
        http_runner=http_runner,
        grpc_port=grpc_port,
        http_port=http_port,
        base_url=base_url,
        health=health_servicer,
        provider_health=provider_health,
        provider=provider,
        fetcher=fetcher,
        jobs=jobs,
        blobs=blobs,
        studio=studio,
        retention=retention,
        budget=budget,
    )
