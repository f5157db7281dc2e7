"""The provider as the settings describe it: the deployments of the providers file, or one
from the SDK's own variables (OPENAI_API_KEY, OPENAI_BASE_URL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.provider.budget import ProviderBudget
from visionstudio.server.provider.deployment import Deployment
from visionstudio.server.provider.models import rules_for
from visionstudio.server.provider.openai_client import openai_client
from visionstudio.server.provider.pool import ProviderPool
from visionstudio.server.provider.providers_file import DeploymentConfig, load_deployments
from visionstudio.server.provider.retry import RetryPolicy


@dataclass(frozen=True)
class ProviderOptions:
    model: str  # the single deployment's model, when there is no providers file
    providers_file: Path | None
    timeout_s: float
    retry: RetryPolicy
    connections: int
    # The single deployment's optional ceilings (a providers file gives each its own).
    images_per_minute: int = 0
    requests_per_minute: int = 0
    # How long a failed deployment is skipped before one call probes it again.
    probe_after_s: float = 30.0


def deployment_configs(options: ProviderOptions) -> list[DeploymentConfig]:
    if options.providers_file is not None:
        return load_deployments(options.providers_file)
    return [
        DeploymentConfig(
            name="default",
            model=options.model,
            images_per_minute=options.images_per_minute,
            requests_per_minute=options.requests_per_minute,
        )
    ]


def check_same_sizes(configs: Sequence[DeploymentConfig]) -> None:
    """An image may go to any deployment, so every model must take the same sizes."""
    kinds = {config.name: rules_for(config.model).flexible for config in configs}
    if len(set(kinds.values())) > 1:
        flexible = sorted(name for name, f in kinds.items() if f)
        fixed = sorted(name for name, f in kinds.items() if not f)
        raise ValueError(
            "the deployments' models take different image sizes, so an image could not go to "
            f"any of them: {', '.join(flexible)} take any size, {', '.join(fixed)} only "
            "1024x1024, 1536x1024 and 1024x1536; use models of one kind in the providers file"
        )


def build_provider(options: ProviderOptions, metrics: Metrics) -> ProviderPool:
    """Raises ValueError (or openai.OpenAIError for a missing key) with what to fix."""
    configs = deployment_configs(options)
    check_same_sizes(configs)
    deployments = []
    for config in configs:
        budget = ProviderBudget(
            images_per_minute=config.images_per_minute,
            requests_per_minute=config.requests_per_minute,
        )
        client = openai_client(
            config, budget=budget, timeout_s=options.timeout_s, connections=options.connections
        )
        deployments.append(
            Deployment(
                name=config.name,
                client=client,
                rules=rules_for(config.model),
                budget=budget,
                probe_after_s=options.probe_after_s,
                weight=config.weight,
                kind=config.kind,
            )
        )
    return ProviderPool(
        deployments, retry=options.retry, timeout_s=options.timeout_s, metrics=metrics
    )
