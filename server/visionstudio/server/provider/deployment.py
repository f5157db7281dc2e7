"""One upstream deployment: its SDK client, model, rate budget, health and circuit breaker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pybreaker
from openai import AsyncOpenAI
from visionstudio.server.errors import Unavailable
from visionstudio.server.provider.base import OnPartial, RenderedImage, RenderRequest
from visionstudio.server.provider.budget import ProviderBudget
from visionstudio.server.provider.models import ModelRules
from visionstudio.server.provider.openai_render import render_once

log = logging.getLogger(__name__)


class _OpenedAt(pybreaker.CircuitBreakerListener):
    """Notes when the breaker opened, to know when the deployment is due for a probe."""

    def __init__(self) -> None:
        self.at = 0.0

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            self.at = time.monotonic()
            log.warning("deployment %s failed: skipped for %.0f s", cb.name, cb.reset_timeout)


@dataclass
class Deployment:
    name: str
    client: AsyncOpenAI
    rules: ModelRules
    budget: ProviderBudget
    # How long a failed deployment is skipped before one call probes it again.
    probe_after_s: float = 30.0
    weight: float = 1.0
    kind: str = "openai"
    in_flight: int = field(default=0)

    def __post_init__(self) -> None:
        self._opened = _OpenedAt()
        # Opens at the first 5xx or connection failure (other errors say nothing about the
        # deployment's health).
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=1,
            reset_timeout=self.probe_after_s,
            exclude=[lambda error: not isinstance(error, Unavailable)],
            listeners=[self._opened],
            name=self.name,
            throw_new_error_on_trip=False,
        )

    @property
    def available(self) -> bool:
        """Not known to be failing: its breaker is closed, or open long enough to probe."""
        if self.breaker.current_state != pybreaker.STATE_OPEN:
            return True
        return time.monotonic() - self._opened.at >= self.probe_after_s

    def span_attributes(self) -> dict[str, str | int]:
        host, port = self.address()
        return {
            "gen_ai.system": "az.ai.openai" if self.kind == "azure" else "openai",
            "gen_ai.request.model": self.rules.model,
            "server.address": host,
            "server.port": port,
            "visionstudio.deployment": self.name,
        }

    def load(self) -> float:
        """How busy it is for its weight: ties of the budget's wait go to the least busy."""
        return (self.in_flight + self.budget.waiting) / self.weight

    @contextlib.contextmanager
    def watched(self) -> Iterator[None]:
        """Counts the call's outcome in the breaker; raises pybreaker.CircuitBreakerError when
        the breaker is open and not yet due for a probe."""
        with self.breaker.calling():
            yield

    async def render(
        self, request: RenderRequest, timeout_s: float, on_partial: OnPartial | None
    ) -> RenderedImage:
        self.in_flight += 1
        try:
            return await render_once(
                self.client, self.rules.model, request, timeout_s, on_partial, self.name
            )
        finally:
            self.in_flight -= 1

    def address(self) -> tuple[str, int]:
        url = self.client.base_url
        return str(url.host), url.port or (443 if url.scheme == "https" else 80)

    async def reachable(self) -> bool:
        # A TCP connection is enough to know the endpoint is there, and costs no quota.
        host, port = self.address()
        try:
            async with asyncio.timeout(5.0):
                _, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    async def close(self) -> None:
        await self.client.close()
        await self.budget.close()
