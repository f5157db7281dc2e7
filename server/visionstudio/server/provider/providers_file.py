"""`VISIONSTUDIO_PROVIDERS_FILE`: the upstream deployments, one `[[deployment]]` table each.

    [[deployment]]
    name = "openai-main"
    kind = "openai"
    base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"
    model = "gpt-image-2.5-flare"

    [[deployment]]
    name = "azure-westeurope"
    kind = "azure"
    endpoint = "https://example-we.openai.azure.com"
    api_version = "2025-04-01-preview"
    deployment = "gpt-image-2"
    api_key_env = "AZURE_WE_KEY"
    model = "gpt-image-2"
    images_per_minute = 60   # optional ceilings; the real limits are learned
    weight = 2               # optional: ties go to the heavier deployment

The file names the variable holding each key, never the key itself.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class DeploymentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    kind: Literal["openai", "azure"] = "openai"
    # openai: the API's base URL (None: the SDK's default, or OPENAI_BASE_URL).
    base_url: str | None = None
    # azure: the resource endpoint, the API version and the deployment's name.
    endpoint: str | None = None
    api_version: str | None = None
    deployment: str | None = None
    # The environment variable holding the key (None: the SDK's own variable).
    api_key_env: str | None = None
    model: str
    images_per_minute: int = Field(default=0, ge=0)
    requests_per_minute: int = Field(default=0, ge=0)
    weight: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _azure_needs_its_address(self) -> DeploymentConfig:
        if self.kind == "azure" and not (self.endpoint and self.api_version and self.deployment):
            raise ValueError("an azure deployment needs endpoint, api_version and deployment")
        if self.kind == "openai" and (self.endpoint or self.api_version or self.deployment):
            raise ValueError("endpoint, api_version and deployment are for kind = 'azure'")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployment: list[DeploymentConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> _File:
        names = [d.name for d in self.deployment]
        if len(set(names)) != len(names):
            raise ValueError("deployment names must be unique")
        return self


def load_deployments(path: Path) -> list[DeploymentConfig]:
    """The file's deployments; ValueError with what to fix when it cannot be used."""
    try:
        raw = tomllib.loads(path.read_text())
        return _File.model_validate(raw).deployment
    except OSError as exc:
        raise ValueError(f"cannot read the providers file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"the providers file {path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise ValueError(f"the providers file {path} is not usable: {exc}") from exc
