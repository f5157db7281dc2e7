"""The job core built from `Settings`: provider, stores, prep, the runner and what both
surfaces share. `assembly` puts the surfaces on top of it."""

from __future__ import annotations

from dataclasses import dataclass

import openai
from visionstudio.server.jobs.admission import Admission, Limits
from visionstudio.server.jobs.batches import Batches
from visionstudio.server.jobs.links import UrlSigner
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


def check_settings(settings: Settings) -> None:
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


async def build_core(settings: Settings, signer: UrlSigner) -> Core:
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
        blobs=blobs,
        concurrency=settings.batch_item_concurrency,
        job_timeout_s=settings.max_call_s,
        lease_s=settings.job_lease_s,
    )
    return Core(metrics, provider, fetcher, jobs, blobs, studio, queries, retention, batches)
