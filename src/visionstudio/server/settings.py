"""The service's configuration: one typed object, read once at start-up and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MiB = 1024 * 1024


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything the server reads from the environment (prefix ``VISIONSTUDIO_``).

    The provider's own settings (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``) are read by the openai
    SDK itself, so any OpenAI-compatible endpoint works without a second name for them.
    """

    model_config = SettingsConfigDict(env_prefix="VISIONSTUDIO_", extra="ignore")

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    grpc_port: int = 50051
    http_port: int = 8527
    host: str = "0.0.0.0"
    data_dir: Path = Path(".data")
    # Base of the image URLs handed to callers; defaults to http://localhost:<http_port>.
    public_url: str | None = None
    # Signs image URLs so they load in a browser without a key; generated in data_dir if unset.
    url_signing_key: SecretStr | None = None
    url_ttl_s: int = 7 * 24 * 3600

    model: str = "gpt-image-2.5-flare"
    upstream_timeout_s: float = 600.0
    # The openai SDK owns retries (429/5xx/connection, honouring Retry-After).
    upstream_max_retries: int = 2
    upstream_concurrency: int = 32

    max_message_bytes: int = 64 * MiB
    max_input_bytes: int = 50 * MiB
    max_input_pixels: int = 40_000_000
    fetch_timeout_s: float = 20.0
    fetch_connect_timeout_s: float = 5.0
    fetch_max_redirects: int = 3
    # Hosts or CIDR ranges whose private/loopback addresses image URLs may still reach.
    url_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Bounds a call when the caller sets no gRPC deadline.
    max_call_s: float = 900.0
    shutdown_grace_s: float = 30.0

    _split_lists = field_validator("api_keys", "url_allowlist", mode="before")(_split_csv)
