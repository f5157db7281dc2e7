"""The `ImageProvider` over one or more deployments: each image goes to the deployment that
can start it soonest, and a failed attempt is retried on another.

A 429 is not a failure: the deployment's budget now knows when it is worth trying again, and
the call waits for that (or for another deployment) while its deadline allows, without using
up the retries meant for 5xx and connection failures. Only a wait the deadline cannot cover
ends the call, at once, with RESOURCE_EXHAUSTED and RetryInfo.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Sequence

from opentelemetry import trace
from visionstudio.server.errors import ResourceExhausted, ServiceError, Unavailable
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.provider.base import OnPartial, RenderedImage, RenderRequest
from visionstudio.server.provider.deployment import Deployment
from visionstudio.server.provider.models import ModelRules
from visionstudio.server.provider.retry import RetryPolicy
from visionstudio.server.provider.upstream_errors import RATE_LIMITED

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class ProviderPool:
    def __init__(
        self,
        deployments: Sequence[Deployment],
        *,
        retry: RetryPolicy,
        timeout_s: float,
        metrics: Metrics,
    ) -> None:
        if not deployments:
            raise ValueError("at least one deployment is needed")
        self.deployments = list(deployments)
        self._retry = retry
        self._timeout_s = timeout_s
        self._metrics = metrics
        metrics.budget_waiting.set_function(lambda: sum(d.budget.waiting for d in self.deployments))

    @property
    def rules(self) -> ModelRules:
        # Every deployment has the same size rules (checked when the pool is built).
        return self.deployments[0].rules

    async def render(
        self, request: RenderRequest, on_partial: OnPartial | None = None
    ) -> RenderedImage:
        timeout = min(request.timeout_s or self._timeout_s, self._timeout_s)
        resends = itertools.count()
        failed: set[str] = set()  # deployments that failed this image: retries go elsewhere

        async def attempt(seconds_left: float) -> RenderedImage:
            deadline = time.monotonic() + seconds_left
            while True:
                deployment = self._choose(failed)
                # Every attempt spends its deployment's budget: wait for it here.
                await deployment.budget.acquire(request.caller, deadline)
                left = max(0.001, deadline - time.monotonic())
                try:
                    return await self._measured(
                        deployment, request, left, on_partial, next(resends)
                    )
                except ResourceExhausted as error:
                    if error.reason != RATE_LIMITED:
                        raise
                    # The budget learned from the 429 when to try again: wait in line.
                except Unavailable:
                    failed.add(deployment.name)
                    raise

        return await self._retry.call(attempt, timeout_s=timeout, on_retry=self._count_retry)

    def _choose(self, failed: set[str]) -> Deployment:
        """The deployment that can start a call soonest: ones that failed this image or
        whose breaker is open come last; then the budget's wait, then the load."""
        return min(
            self.deployments,
            key=lambda d: (
                d.name in failed,
                not d.available,
                d.budget.estimated_wait(),
                d.load(),
            ),
        )

    def _count_retry(self, error: BaseException) -> None:
        reason = error.reason if isinstance(error, ServiceError) else type(error).__name__
        self._metrics.upstream_retries.labels(reason).inc()
        log.warning("retrying upstream request after %s", reason)

    async def _measured(
        self,
        deployment: Deployment,
        request: RenderRequest,
        timeout_s: float,
        on_partial: OnPartial | None,
        resend: int,
    ) -> RenderedImage:
        """One attempt, counted, timed, traced and seen by the deployment's breaker; `resend`
        is 0 for the first, 1 for the first retry and so on."""
        started = time.monotonic()
        outcome = "ok"
        operation = "images.edit" if request.image is not None else "images.generate"
        # An open breaker not yet due for a probe is used only when every deployment is so.
        watch = deployment.watched() if deployment.available else contextlib.nullcontext()
        with (
            tracer.start_as_current_span(
                f"{operation} {deployment.rules.model}",
                kind=trace.SpanKind.CLIENT,
                attributes={
                    **deployment.span_attributes(),
                    "gen_ai.operation.name": operation,
                    "http.request.resend_count": resend,
                },
            ) as span,
            watch,
        ):
            try:
                rendered = await deployment.render(request, timeout_s, on_partial)
                span.set_attributes(
                    {
                        "gen_ai.usage.input_tokens": rendered.usage.input_tokens,
                        "gen_ai.usage.output_tokens": rendered.usage.output_tokens,
                    }
                )
                return dataclasses.replace(rendered, deployment=deployment.name)
            except ServiceError as error:
                outcome = error.reason
                # A 429 is the budget's to handle, not a failure worth a warning.
                level = logging.INFO if outcome == RATE_LIMITED else logging.WARNING
                log.log(level, "deployment %s answered %s", deployment.name, outcome)
                raise
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            finally:
                if outcome != "ok":
                    span.set_attribute("error.type", outcome)
                self._metrics.upstream_requests.labels(outcome, deployment.name).inc()
                self._metrics.upstream_seconds.observe(time.monotonic() - started)

    async def reachable(self) -> bool:
        """Whether any deployment answers at all."""
        results = await asyncio.gather(*(d.reachable() for d in self.deployments))
        return any(results)

    async def close(self) -> None:
        for deployment in self.deployments:
            await deployment.close()
