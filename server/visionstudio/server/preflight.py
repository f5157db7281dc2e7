"""What start-up asks the provider before serving: is it there, and does it know the model?

Without this an unreachable endpoint showed only as a failing /readyz, and an unknown model
only as every call failing with the caller's INVALID_ARGUMENT. Both questions cost no quota:
a TCP connection, and `GET /models/{model}`.
"""

from __future__ import annotations

import logging

import openai
from visionstudio.server.provider.deployment import Deployment
from visionstudio.server.provider.pool import ProviderPool

log = logging.getLogger(__name__)

# Start-up waits at most this long for the model lookup of each deployment.
_LOOKUP_TIMEOUT_S = 10.0


class UnknownModel(Exception):
    """The provider says the configured model does not exist; the message says what to fix."""


async def check_provider(pool: ProviderPool) -> None:
    """Logs an unreachable deployment loudly (the service starts, not ready, and keeps probing);
    raises UnknownModel when a reachable deployment does not know its model."""
    for deployment in pool.deployments:
        if not await deployment.reachable():
            log.error("%s", _unreachable(deployment))
        elif deployment.kind == "openai":
            # Azure names deployments, not models, and has no per-model lookup of this shape.
            await _check_model(deployment)


def _unreachable(deployment: Deployment) -> str:
    host, port = deployment.address()
    source = (
        "OPENAI_BASE_URL"
        if deployment.name == "default"
        else f"the base_url or endpoint of deployment {deployment.name!r} in the providers file"
    )
    return (
        f"PROVIDER UNREACHABLE: nothing answers at {deployment.client.base_url} "
        f"({host}:{port}, from {source}). Check that the address is right, that the endpoint "
        "is running and that this host can reach it (DNS, firewall, proxy). The service starts "
        "but is not ready (gRPC health NOT_SERVING, /readyz 503) until it answers."
    )


async def _check_model(deployment: Deployment) -> None:
    model = deployment.rules.model
    client = deployment.client.with_options(timeout=_LOOKUP_TIMEOUT_S, max_retries=0)
    try:
        await client.models.retrieve(model)
    except openai.NotFoundError as exc:
        if exc.code == "model_not_found":
            raise UnknownModel(
                f"the provider at {deployment.client.base_url} does not know the model "
                f"{model!r} (deployment {deployment.name!r}): set VISIONSTUDIO_MODEL (or the "
                "providers file's model) to one it serves, e.g. gpt-image-2.5-flare"
            ) from None
        # An OpenAI-compatible endpoint without the models route: nothing to learn here.
        log.info("deployment %s: cannot look up model %s (%s)", deployment.name, model, exc)
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        log.error(
            "deployment %s at %s refuses this service's key (%s): check OPENAI_API_KEY "
            "(or the providers file's api_key_env)",
            deployment.name,
            deployment.client.base_url,
            exc.status_code,
        )
    except openai.OpenAIError as exc:
        log.warning("deployment %s: the model lookup failed: %s", deployment.name, exc)
