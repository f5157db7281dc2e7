"""Settings for a service on loopback whose provider is the fake upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from visionstudio.server.settings import Settings

from tests.support.harness import UPSTREAM_KEY


def loopback_settings(
    upstream_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, **fields: Any
) -> Settings:
    """Free ports on 127.0.0.1 and `fields` on top; the provider is configured exactly as in
    production, by the SDK's own variables."""
    monkeypatch.setenv("OPENAI_BASE_URL", upstream_url)
    monkeypatch.setenv("OPENAI_API_KEY", UPSTREAM_KEY)
    return Settings(data_dir=data_dir, grpc_port=0, http_port=0, host="127.0.0.1", **fields)
