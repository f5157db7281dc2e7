"""The Dockerfile (linted by hadolint in `make deploy-lint`): the facts the image promises."""

from __future__ import annotations

import re
import tomllib

from tests.deploy.artifacts import DOCKERFILE, ROOT


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for instruction, arguments in _instructions():
        if instruction == "FROM":
            current = []
            stages[arguments.split(" AS ")[-1].strip()] = current
        current.append((instruction, arguments))
    return stages


def test_the_default_target_is_the_runtime_stage() -> None:
    stages = _stages()
    assert list(stages)[-1] == "runtime"
    assert {"build", "base", "fake-openai"} <= set(stages)


def test_runtime_runs_the_server_as_a_non_root_user_with_a_grpc_health_check() -> None:
    base, runtime = _stages()["base"], _stages()["runtime"]
    (user,) = [a for i, a in base if i == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    (check,) = [a for i, a in runtime if i == "HEALTHCHECK"]
    assert '"visionstudio", "health"' in check
    (entrypoint,) = [a for i, a in runtime if i == "ENTRYPOINT"]
    assert entrypoint == '["visionstudio-server"]'


def test_the_image_carries_both_console_scripts_and_the_migrations() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert set(project["project"]["scripts"]) == {"visionstudio-server", "visionstudio"}
    package_data = project["tool"]["setuptools"]["package-data"]["visionstudio.server"]
    assert "store/migrations/*/*.sql" in package_data
    copied = " ".join(a for i, a in _stages()["build"] if i == "COPY")
    assert "server" in copied and "client/visionstudio" in copied
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    # Deny by default: nothing from the work tree (.data, .venv, keys) reaches the context.
    assert "*" in ignore
    assert {"!server/", "!client/visionstudio/", "!pyproject.toml"} <= set(ignore)


def test_oci_labels_and_no_secrets() -> None:
    labels = " ".join(a for i, a in _instructions() if i == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    for instruction, arguments in _instructions():
        if instruction in ("ENV", "ARG"):
            assert not re.search(r"KEY|SECRET|PASSWORD|TOKEN", arguments), arguments
