"""The SDK client of one deployment (`AsyncOpenAI` or `AsyncAzureOpenAI`), built apart from
what is done with it."""

from __future__ import annotations

import os

import httpx2
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI
from visionstudio.server.provider.budget import ProviderBudget
from visionstudio.server.provider.connections import UpstreamTransport
from visionstudio.server.provider.providers_file import DeploymentConfig
from visionstudio.server.provider.rate_headers import retry_after_s


def _http_client(budget: ProviderBudget, connections: int) -> httpx2.AsyncClient:
    async def follow_limits(response: httpx2.Response) -> None:
        # Every answer says what the limits are and how much is left; a 429 says how long
        # everyone should wait.
        budget.observe(response.headers)
        if response.status_code == 429:
            budget.pause(retry_after_s(response.headers) or 1.0)

    # Keep a warm connection per concurrent upstream call: the SDK keeps only 100, and
    # reconnecting under load costs more CPU than anything else on the hot path.
    return openai.DefaultAsyncHttpxClient(
        transport=UpstreamTransport(max(1000, connections)),
        event_hooks={"response": [follow_limits]},
    )


def openai_client(
    config: DeploymentConfig, *, budget: ProviderBudget, timeout_s: float, connections: int
) -> AsyncOpenAI:
    """Without `base_url`/`api_key_env` the SDK reads OPENAI_BASE_URL / OPENAI_API_KEY itself.
    Raises openai.OpenAIError when no key can be found."""
    api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
    if config.api_key_env and not api_key:
        raise openai.OpenAIError(f"the variable {config.api_key_env} holds no key.")
    http = _http_client(budget, connections)
    # max_retries=0: the provider's own retry policy is the only retry layer.
    if config.kind == "azure":
        return AsyncAzureOpenAI(
            azure_endpoint=config.endpoint or "",  # required by the file's validation
            azure_deployment=config.deployment,
            api_version=config.api_version,
            api_key=api_key,
            timeout=timeout_s,
            max_retries=0,
            http_client=http,
        )
    return AsyncOpenAI(
        api_key=api_key,
        base_url=config.base_url,
        timeout=timeout_s,
        max_retries=0,
        http_client=http,
    )
