"""The one composition root: the whole service built from `Settings`.

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

import openai
from aiohttp import web
from grpc_health.v1 import health
from visionstudio.server.api.auth import ApiKeys
from visionstudio.server.api.byte_budget import ByteBudget
from visionstudio.server.api.grpc.server import GrpcSurface, start_grpc
from visionstudio.server.api.http.server import HttpApp, start_http
from visionstudio.server.api.readiness import ProviderHealth
from visionstudio.server.api.tls import load_tls
from visionstudio.server.jobs.admission import Admission, Limits
from visionstudio.server.jobs.batches import Batches
from visionstudio.server.jobs.links import UrlSigner, load_or_create_key
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.preflight import UnknownModel, check_provider
from visionstudio.server.prep import PixelBudget, Prep
from visionstudio.server.prep.fetch import AddressPolicy, Fetcher, FetchLimits
from visionstudio.server.provider.factory import ProviderOptions, build_provider
from visionstudio.server.provider.pool import ProviderPool
from visionstudio.server.provider.retry import RetryPolicy
from visionstudio.server.settings import Settings
from visionstudio.server.store import BlobStore, JobStore, open_stores
from visionstudio.server.store.budget_tokens import PostgresTokens
from visionstudio.server.store.retention import Retention

log = logging.getLogger(__name__)

# How long streams get, after the grace, to send their last status.
_STREAM_CLOSE_S = 1.0


class StartupError(Exception):
    """The configuration cannot make a working service; the message says what to fix."""


@dataclass
class Core:
    """Everything both surfaces share: the job core and what it stands on."""

    metrics: Metrics
    provider: ProviderPool
    fetcher: Fetcher
    jobs: JobStore
    blobs: BlobStore
    studio: ImageStudio
    queries: JobQueries
    retention: Retention
    batches: Batches


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
        await self.http_runner.cleanup()
        await core.provider.close()
        await core.fetcher.close()
        await core.jobs.close()
        await core.blobs.close()


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.upstream_max_retries + 1,
        initial_backoff_s=settings.upstream_backoff_initial_s,
        max_backoff_s=settings.upstream_backoff_max_s,
        jitter_s=settings.upstream_backoff_initial_s,
    )


def admission_limits(settings: Settings) -> Limits:
    return Limits(
        max_in_flight=settings.upstream_concurrency,
        max_queued=settings.max_queued_images,
        per_key_in_flight=settings.per_key_concurrency,
        per_key_queued=settings.per_key_queued_images,
        per_key_images_per_minute=settings.per_key_images_per_minute,
    )


def _provider(settings: Settings, metrics: Metrics) -> ProviderPool:
    options = ProviderOptions(
        model=settings.model,
        providers_file=settings.providers_file,
        timeout_s=settings.upstream_timeout_s,
        retry=retry_policy(settings),
        connections=settings.upstream_concurrency,
        images_per_minute=settings.provider_images_per_minute,
        requests_per_minute=settings.provider_requests_per_minute,
        probe_after_s=settings.deployment_probe_after_s,
    )
    try:
        return build_provider(options, metrics)
    except ValueError as exc:
        raise StartupError(str(exc)) from exc
    except openai.OpenAIError as exc:
        raise StartupError(
            f"cannot configure the OpenAI client: {exc} Set OPENAI_API_KEY (and OPENAI_BASE_URL "
            "for another OpenAI-compatible endpoint; `make fake-openai` runs a local one)."
        ) from exc


def _check(settings: Settings) -> None:
    """Refuses combinations that cannot work before anything is opened."""
    shared = settings.provider_budget_shared and (
        settings.provider_images_per_minute > 0 or settings.provider_requests_per_minute > 0
    )
    database_url = settings.database_url or ""
    if shared and not database_url.startswith(("postgresql://", "postgres://")):
        raise StartupError("VISIONSTUDIO_PROVIDER_BUDGET_SHARED needs a PostgreSQL database_url")


async def _share_budget(settings: Settings, provider: ProviderPool) -> None:
    if not (settings.provider_budget_shared and settings.database_url):
        return
    for deployment in provider.deployments:
        budget = deployment.budget
        if budget.has_ceilings:
            # The single deployment keeps the account's name; several are told apart.
            account = settings.provider_account
            if settings.providers_file is not None:
                account = f"{account}/{deployment.name}"
            budget.share(
                await PostgresTokens.open(settings.database_url, account, budget.per_minute)
            )


def _fetcher(settings: Settings) -> Fetcher:
    limits = FetchLimits(
        max_bytes=settings.max_input_bytes,
        total_timeout_s=settings.fetch_timeout_s,
        connect_timeout_s=settings.fetch_connect_timeout_s,
        max_redirects=settings.fetch_max_redirects,
    )
    return Fetcher(limits, AddressPolicy(settings.url_allowlist))


def _signer(settings: Settings, http_port: int) -> UrlSigner:
    key = (
        settings.url_signing_key.get_secret_value().encode()
        if settings.url_signing_key
        else load_or_create_key(settings.data_dir / "url-signing-key")
    )
    scheme = "https" if settings.tls_cert_file else "http"
    base_url = (settings.public_url or f"{scheme}://localhost:{http_port}").rstrip("/")
    return UrlSigner(key, base_url, settings.url_ttl_s)


async def _core(settings: Settings, signer: UrlSigner) -> Core:
    metrics = Metrics(per_key=settings.metrics_per_key)
    provider = _provider(settings, metrics)
    try:
        await check_provider(provider)
    except UnknownModel as exc:
        await provider.close()
        raise StartupError(str(exc)) from None
    await _share_budget(settings, provider)
    jobs, blobs = await open_stores(
        database_url=settings.database_url, blob_url=settings.blob_url, data_dir=settings.data_dir
    )
    fetcher = _fetcher(settings)
    queries = JobQueries(
        jobs=jobs,
        blobs=blobs,
        signer=signer,
        url_ttl_s=settings.url_ttl_s,
        progress_interval_s=settings.progress_interval_s,
    )
    studio = ImageStudio(
        provider=provider,
        prep=Prep(
            fetcher,
            max_pixels=settings.max_input_pixels,
            max_canvas_pixels=settings.max_canvas_pixels,
            budget=PixelBudget(settings.prep_pixel_budget),
        ),
        fetcher=fetcher,
        blobs=blobs,
        jobs=jobs,
        queries=queries,
        max_input_bytes=settings.max_input_bytes,
        admission=Admission(admission_limits(settings)),
        metrics=metrics,
        progress_interval_s=settings.progress_interval_s,
        max_job_s=settings.max_call_s,
        detach=settings.detach_jobs,
        idempotency_window_s=settings.idempotency_window_s,
        lease_s=settings.job_lease_s,
    )
    retention = Retention(
        jobs, blobs, keep_s=settings.retention_s, interval_s=settings.retention_interval_s
    )
    batches = Batches(
        studio=studio,
        store=jobs,
        queries=queries,
        concurrency=settings.batch_item_concurrency,
        job_timeout_s=settings.max_call_s,
    )
    return Core(metrics, provider, fetcher, jobs, blobs, studio, queries, retention, batches)


def _bind(surface: str, host: str, port: int) -> socket.socket:
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"the {surface} port {port} is already in use") from None
        raise StartupError(f"cannot listen on {host}:{port} for {surface}: {exc}") from None


async def start(settings: Settings, keys: Sequence[str]) -> RunningService:
    """Builds the service from `settings`, starts both surfaces and its background work."""
    _check(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The HTTP socket is bound first: image URLs name its port, and port 0 picks a free one.
    http_socket = _bind("HTTP", settings.host, settings.http_port)
    if settings.grpc_port:
        # A probe without SO_REUSEPORT: grpc's own bind comes after the stores are open.
        _bind("gRPC", settings.host, settings.grpc_port).close()
    http_port = int(http_socket.getsockname()[1])
    signer = _signer(settings, http_port)
    try:
        core = await _core(settings, signer)
    except StartupError:
        http_socket.close()
        raise
    api_keys = ApiKeys(keys)
    tls = load_tls(settings.tls_cert_file, settings.tls_key_file)
    health_servicer = health.aio.HealthServicer()
    readiness = ProviderHealth(core.provider, health_servicer, settings.health_probe_interval_s)
    # One budget of request bytes being received, over both surfaces.
    request_bytes = ByteBudget(settings.request_bytes_budget, wait_s=settings.request_bytes_wait_s)
    http = HttpApp(
        keys=api_keys,
        signer=signer,
        blobs=core.blobs,
        jobs=core.jobs,
        studio=core.studio,
        queries=core.queries,
        max_call_s=settings.max_call_s,
        max_input_bytes=settings.max_input_bytes,
        metrics=core.metrics,
        readiness=lambda: readiness.reachable,
        request_bytes=request_bytes,
        draining=lambda: readiness.draining,
        max_connections=settings.http_max_connections,
        body_timeout_s=settings.request_body_timeout_s,
    )
    http_runner = await start_http(
        http, http_socket, tls.http if tls else None, idle_timeout_s=settings.http_idle_timeout_s
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
    await readiness.check()
    readiness.start()
    core.retention.start()
    core.studio.start()
    log.info(
        "gRPC on port %d, HTTP on %s, model %s, deployments %s",
        grpc.port,
        signer.base_url,
        core.provider.rules.model,
        ", ".join(d.name for d in core.provider.deployments),
    )
    return RunningService(core, grpc, http_runner, http_port, signer.base_url, readiness)
