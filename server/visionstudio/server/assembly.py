"""The one composition root: the whole service built from `Settings`, the job core (`core`)
with both surfaces on top.

`visionstudio-server`, the tests and the benchmarks all start the service through `start`, so
what they run is what production runs.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from grpc_health.v1 import health
from visionstudio.server.api.auth import ApiKeys
from visionstudio.server.api.byte_budget import ByteBudget
from visionstudio.server.api.grpc.server import GrpcSurface, start_grpc
from visionstudio.server.api.http.server import HttpApp, start_http
from visionstudio.server.api.readiness import ProviderHealth
from visionstudio.server.api.tls import Tls, load_tls
from visionstudio.server.core import Core, StartupError, build_core, check_settings
from visionstudio.server.jobs.links import UrlSigner, load_or_create_key
from visionstudio.server.settings import Settings

log = logging.getLogger(__name__)

# How long streams get, after the grace, to send their last status.
_STREAM_CLOSE_S = 1.0


@dataclass
class RunningService:
    core: Core
    grpc: GrpcSurface
    http_runner: web.AppRunner
    http_port: int
    base_url: str
    readiness: ProviderHealth

    @property
    def grpc_port(self) -> int:
        return self.grpc.port

    async def stop(self, grace_s: float) -> None:
        """Refuses new work on both surfaces at once, lets running upstream calls finish
        within `grace_s`, hands the rest of every job back (its lease released, so another
        replica or the next start carries it on), then closes."""
        # Both surfaces refuse from here on: gRPC UNAVAILABLE, HTTP 503, readiness fails.
        await self.readiness.shut_down()
        self.core.queries.shut_down()
        # The gRPC server gets a moment past the grace, so the streams of jobs handed back
        # end with their own status (SERVER_SHUTTING_DOWN and the job id), not a cut.
        grpc_stopped = asyncio.create_task(self.grpc.server.stop(grace_s + _STREAM_CLOSE_S))
        await self.core.retention.stop()
        core = self.core
        await core.batches.stop()
        await core.studio.drain(grace_s)
        await grpc_stopped
        if self.grpc.health_listener is not None:
            self.grpc.health_listener.stop()
        await self.http_runner.cleanup()
        await core.provider.close()
        await core.fetcher.close()
        await core.jobs.close()
        await core.blobs.close()


def _signer(settings: Settings, http_port: int) -> UrlSigner:
    key = (
        settings.url_signing_key.get_secret_value().encode()
        if settings.url_signing_key
        else load_or_create_key(settings.data_dir / "url-signing-key")
    )
    scheme = "https" if settings.tls_cert_file else "http"
    base_url = (settings.public_url or f"{scheme}://localhost:{http_port}").rstrip("/")
    return UrlSigner(key, base_url, settings.url_ttl_s)


def _bind(surface: str, host: str, port: int) -> socket.socket:
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"the {surface} port {port} is already in use") from None
        raise StartupError(f"cannot listen on {host}:{port} for {surface}: {exc}") from None


async def _start_http(
    settings: Settings,
    core: Core,
    keys: ApiKeys,
    signer: UrlSigner,
    readiness: ProviderHealth,
    request_bytes: ByteBudget,
    http_socket: socket.socket,
    tls: Tls | None,
) -> web.AppRunner:
    http = HttpApp(
        keys=keys,
        signer=signer,
        blobs=core.blobs,
        jobs=core.jobs,
        studio=core.studio,
        queries=core.queries,
        batches=core.batches,
        max_call_s=settings.max_call_s,
        max_input_bytes=settings.max_input_bytes,
        metrics=core.metrics,
        readiness=lambda: readiness.reachable,
        request_bytes=request_bytes,
        draining=lambda: readiness.draining,
        max_connections=settings.http_max_connections,
        body_timeout_s=settings.request_body_timeout_s,
    )
    return await start_http(
        http, http_socket, tls.http if tls else None, idle_timeout_s=settings.http_idle_timeout_s
    )


async def start(settings: Settings, keys: Sequence[str]) -> RunningService:
    """Builds the service from `settings`, starts both surfaces and its background work."""
    check_settings(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The HTTP socket is bound first: image URLs name its port, and port 0 picks a free one.
    http_socket = _bind("HTTP", settings.host, settings.http_port)
    if settings.grpc_port:
        # A probe without SO_REUSEPORT: grpc's own bind comes after the stores are open.
        _bind("gRPC", settings.host, settings.grpc_port).close()
    http_port = int(http_socket.getsockname()[1])
    signer = _signer(settings, http_port)
    try:
        core = await build_core(settings, signer)
    except StartupError:
        http_socket.close()
        raise
    api_keys = ApiKeys(keys)
    tls = load_tls(settings.tls_cert_file, settings.tls_key_file)
    health_servicer = health.aio.HealthServicer()
    readiness = ProviderHealth(core.provider, health_servicer, settings.health_probe_interval_s)
    # One budget of request bytes being received, over both surfaces.
    request_bytes = ByteBudget(settings.request_bytes_budget, wait_s=settings.request_bytes_wait_s)
    http_runner = await _start_http(
        settings, core, api_keys, signer, readiness, request_bytes, http_socket, tls
    )
    grpc = await start_grpc(
        settings,
        api_keys,
        core.metrics,
        core.studio,
        core.queries,
        core.batches,
        health_servicer,
        tls,
        request_bytes,
    )
    readiness.report_to(grpc.health_listener)
    await readiness.check()
    readiness.start()
    core.retention.start()
    core.studio.start()
    core.batches.start()
    log.info(
        "gRPC on port %d, HTTP on %s, model %s, deployments %s",
        grpc.port,
        signer.base_url,
        core.provider.rules.model,
        ", ".join(d.name for d in core.provider.deployments),
    )
    return RunningService(core, grpc, http_runner, http_port, signer.base_url, readiness)
