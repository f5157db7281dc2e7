"""The deployment artifacts under test, loaded once: paths and small readers shared by the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
ENVOY = DEPLOY / "envoy" / "envoy.yaml"
KUBERNETES = DEPLOY / "kubernetes"
DASHBOARD = DEPLOY / "monitoring" / "grafana-dashboard.json"
ALERTS = DEPLOY / "monitoring" / "alerts.yaml"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def settings_environment() -> set[str]:
    """The environment variable of every field of the server's settings object."""
    from visionstudio.server.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}
