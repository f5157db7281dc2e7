"""The OpenAI Images API through the official SDK (`AsyncOpenAI`)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import time
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI
from opentelemetry import trace
from visionstudio.server.errors import (
    ContentPolicyViolation,
    DeadlineExceeded,
    Internal,
    ProviderMisconfigured,
    ProviderRejected,
    ResourceExhausted,
    ServiceError,
    Unavailable,
)
from visionstudio.server.jobs.spec import Background, Usage
from visionstudio.server.observability import tracing
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.provider.base import OnPartial, RenderedImage, RenderRequest
from visionstudio.server.provider.budget import ProviderBudget
from visionstudio.server.provider.models import ModelRules, rules_for
from visionstudio.server.provider.retry import RetryPolicy

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})


class OpenAIProvider:
    """Renders each image with one n=1 call, so several images can run (and finish) apart."""

    def __init__(
        self,
        client: AsyncOpenAI,
        model: str,
        *,
        retry: RetryPolicy,
        timeout_s: float,
        metrics: Metrics,
        budget: ProviderBudget,
    ) -> None:
        self._client = client
        self._rules = rules_for(model)
        self._retry = retry
        self._timeout_s = timeout_s
        self._metrics = metrics
        self._budget = budget
        metrics.budget_waiting.set_function(lambda: budget.waiting)
        url = client.base_url
        self._span_attributes: dict[str, str | int] = {
            "gen_ai.system": "openai",
            "gen_ai.request.model": self._rules.model,
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }

    @classmethod
    def from_environment(
        cls,
        model: str,
        *,
        timeout_s: float,
        retry: RetryPolicy,
        metrics: Metrics,
        budget: ProviderBudget,
        connections: int = 100,
    ) -> OpenAIProvider:
        """Reads OPENAI_API_KEY / OPENAI_BASE_URL the way the SDK does."""

        async def follow_limits(response: httpx2.Response) -> None:
            # Every answer says how much of the account's budget is left; a 429 says how long
            # everyone should wait.
            budget.observe(response.headers)
            if response.status_code == 429:
                budget.pause(_seconds(response.headers.get("retry-after")) or 1.0)

        # Keep a warm connection per concurrent upstream call: the SDK keeps only 100, and
        # reconnecting under load costs more CPU than anything else on the hot path.
        http = openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(
                max_connections=max(1000, connections),
                max_keepalive_connections=max(100, connections),
            ),
            event_hooks={"response": [follow_limits]},
        )
        # max_retries=0: `retry` is the only retry layer, so attempts never multiply.
        client = AsyncOpenAI(timeout=timeout_s, max_retries=0, http_client=http)
        return cls(client, model, retry=retry, timeout_s=timeout_s, metrics=metrics, budget=budget)

    @property
    def rules(self) -> ModelRules:
        return self._rules

    async def render(
        self, request: RenderRequest, on_partial: OnPartial | None = None
    ) -> RenderedImage:
        timeout = min(request.timeout_s or self._timeout_s, self._timeout_s)
        resends = itertools.count()

        async def attempt(seconds_left: float) -> RenderedImage:
            # Every attempt, retries included, spends the account's budget: wait for it here.
            deadline = time.monotonic() + seconds_left
            await self._budget.acquire(request.caller, deadline)
            left = max(0.001, deadline - time.monotonic())
            return await self._measured(request, left, on_partial, next(resends))

        return await self._retry.call(
            attempt,
            timeout_s=timeout,
            on_retry=self._count_retry,
        )

    def _count_retry(self, error: BaseException) -> None:
        reason = error.reason if isinstance(error, ServiceError) else type(error).__name__
        self._metrics.upstream_retries.labels(reason).inc()
        log.warning("retrying upstream request after %s", reason)

    async def _measured(
        self, request: RenderRequest, timeout_s: float, on_partial: OnPartial | None, resend: int
    ) -> RenderedImage:
        """One attempt, counted, timed and traced; `resend` is 0 for the first, 1 for the
        first retry and so on."""
        started = time.monotonic()
        outcome = "ok"
        operation = "images.edit" if request.image is not None else "images.generate"
        with tracer.start_as_current_span(
            f"{operation} {self._rules.model}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                **self._span_attributes,
                "gen_ai.operation.name": operation,
                "http.request.resend_count": resend,
            },
        ) as span:
            try:
                rendered = await self._attempt(request, timeout_s, on_partial)
                span.set_attributes(
                    {
                        "gen_ai.usage.input_tokens": rendered.usage.input_tokens,
                        "gen_ai.usage.output_tokens": rendered.usage.output_tokens,
                    }
                )
                return rendered
            except ServiceError as error:
                outcome = error.reason
                raise
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            finally:
                if outcome != "ok":
                    span.set_attribute("error.type", outcome)
                self._metrics.upstream_requests.labels(outcome).inc()
                self._metrics.upstream_seconds.observe(time.monotonic() - started)

    async def _attempt(
        self, request: RenderRequest, timeout_s: float, on_partial: OnPartial | None
    ) -> RenderedImage:
        params: dict[str, Any] = {
            "model": self._rules.model,
            "prompt": request.prompt,
            "n": 1,
            "size": f"{request.size[0]}x{request.size[1]}",
            "quality": request.quality.value,
            "output_format": request.output_format.value,
        }
        # `auto` is the API's own default; leaving it out keeps requests valid on every model.
        if request.background is not Background.AUTO:
            params["background"] = request.background.value
        params["timeout"] = timeout_s
        # The upstream request continues this trace (W3C traceparent of the attempt's span).
        if headers := tracing.outgoing_headers():
            params["extra_headers"] = headers
        if request.image is not None:
            params["image"] = (request.image.filename, request.image.data, request.image.mime_type)
        if request.mask is not None:
            params["mask"] = (request.mask.filename, request.mask.data, request.mask.mime_type)
        call = (
            self._client.images.edit if request.image is not None else self._client.images.generate
        )
        try:
            if request.partial_images and on_partial is not None:
                return await self._streamed(call, params, request.partial_images, on_partial)
            response = await call(**params)
        except openai.APIError as exc:
            raise map_openai_error(exc) from exc
        if not response.data or not response.data[0].b64_json:
            raise Unavailable("the provider answered without an image", reason="UPSTREAM_EMPTY")
        return RenderedImage(
            data=base64.b64decode(response.data[0].b64_json), usage=_usage(response.usage)
        )

    @staticmethod
    async def _streamed(
        call: Any, params: dict[str, Any], partial_images: int, on_partial: OnPartial
    ) -> RenderedImage:
        """The streaming mode (n=1 only): previews as they come, then the final image."""
        stream = await call(**params, stream=True, partial_images=partial_images)
        async with stream:
            async for event in stream:
                if event.type.endswith(".partial_image"):
                    await on_partial(event.partial_image_index, base64.b64decode(event.b64_json))
                elif event.type.endswith(".completed"):
                    return RenderedImage(
                        data=base64.b64decode(event.b64_json), usage=_usage(event.usage)
                    )
        raise Unavailable("the provider's stream ended without an image", reason="UPSTREAM_EMPTY")

    async def reachable(self) -> bool:
        # A TCP connection is enough to know the endpoint is there, and costs no quota.
        url = self._client.base_url
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            async with asyncio.timeout(5.0):
                _, writer = await asyncio.open_connection(url.host, port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    async def close(self) -> None:
        await self._client.close()


def _usage(usage: Any) -> Usage:
    """Usage from a response or a completed stream event (the two types share these fields)."""
    if usage is None:
        return Usage()
    return Usage(
        input_tokens=usage.input_tokens,
        input_text_tokens=usage.input_tokens_details.text_tokens,
        input_image_tokens=usage.input_tokens_details.image_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _retry_after(exc: openai.APIStatusError) -> float | None:
    return _seconds(exc.response.headers.get("retry-after"))


def map_openai_error(exc: openai.APIError) -> ServiceError:
    """What the caller is told about an upstream failure (never the upstream's secrets)."""
    if isinstance(exc, openai.APITimeoutError):
        return DeadlineExceeded("the image provider did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return Unavailable("the image provider could not be reached")
    if not isinstance(exc, openai.APIStatusError):
        return Unavailable("the image provider sent an answer that could not be read")
    status = exc.status_code
    meta = {"upstream_status": str(status)}
    if exc.request_id:
        meta["upstream_request_id"] = exc.request_id
    if exc.code:
        meta["upstream_code"] = exc.code
    if status in (401, 403):
        log.error("provider refused the service's credentials: HTTP %s %s", status, exc.code)
        return ProviderMisconfigured(
            "the image provider refused this service's credentials; this is not the caller's "
            "fault and the operators must fix the provider key",
            metadata=meta,
        )
    if status in (408, 409):
        return Unavailable(f"the image provider answered HTTP {status}; retry", metadata=meta)
    if status == 429:
        return ResourceExhausted(
            "the image provider's rate limit was reached; retry later",
            retry_after_s=_retry_after(exc),
            metadata=meta,
        )
    if status >= 500:
        return Unavailable(
            f"the image provider failed (HTTP {status}); retry later",
            retry_after_s=_retry_after(exc),
            metadata=meta,
        )
    if exc.code in MODERATION_CODES:
        return ContentPolicyViolation(
            "the image provider's safety system refused this request", metadata=meta
        )
    if status == 400:
        if exc.param:
            meta["upstream_param"] = exc.param
        said = exc.body.get("message") if isinstance(exc.body, dict) else None
        return ProviderRejected(
            f"the image provider refused the request: {said or 'no reason given'}", metadata=meta
        )
    if status == 404:
        log.error("provider answered 404 (model unknown?): code %s", exc.code)
        return ProviderMisconfigured(
            "the configured image model is unknown upstream", metadata=meta
        )
    return Internal(f"the image provider answered HTTP {status}", metadata=meta)
