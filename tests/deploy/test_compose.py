"""deploy/compose.yaml and its Envoy: valid Compose, every setting reachable, per-call balancing."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
from visionstudio.server.api.readiness import SERVICE_NAME
from visionstudio.server.settings import Settings

from tests.deploy.artifacts import COMPOSE, DOCKERFILE, ENVOY, load_yaml, settings_environment

REPLICAS = ("visionstudio-1", "visionstudio-2")


def _compose() -> dict[str, Any]:
    document = load_yaml(COMPOSE)
    assert isinstance(document, dict)
    return document


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    # The Compose Specification's JSON schema, as check-jsonschema vendors it (no network).
    text = (
        resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    ).read_text()
    schema = json.loads(text)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_compose())]
    assert errors == []


def test_two_replicas_share_postgres_and_the_bucket() -> None:
    services = _compose()["services"]
    for name in REPLICAS:
        env = services[name]["environment"]
        assert env["VISIONSTUDIO_DATABASE_URL"].startswith("postgresql://")
        assert env["VISIONSTUDIO_DATABASE_URL"].endswith("@postgres:5432/visionstudio")
        assert env["VISIONSTUDIO_BLOB_URL"].startswith("s3://")
        assert env["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services[REPLICAS[0]] == services[REPLICAS[1]]


def test_every_setting_is_available_as_environment() -> None:
    env = _compose()["services"][REPLICAS[0]]["environment"]
    missing = settings_environment() - set(env)
    assert not missing, f"add these to x-visionstudio.environment in deploy/compose.yaml: {missing}"
    assert {"OPENAI_API_KEY", "OPENAI_BASE_URL"} <= set(env)


def test_replicas_get_longer_than_the_drain_to_stop() -> None:
    period = _compose()["services"][REPLICAS[0]]["stop_grace_period"]
    assert period.endswith("s")
    assert int(period[:-1]) > Settings().shutdown_grace_s


def test_replicas_are_health_checked_with_grpc_health() -> None:
    check = _compose()["services"][REPLICAS[0]]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "visionstudio", "health"]


def test_fake_openai_profile_builds_a_stage_of_the_dockerfile() -> None:
    fake = _compose()["services"]["fake-openai"]
    assert fake["profiles"] == ["fake-openai"]
    assert f" AS {fake['build']['target']}" in DOCKERFILE.read_text()
    for name in REPLICAS:
        assert "profiles" not in _compose()["services"][name]


def _clusters() -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in load_yaml(ENVOY)["static_resources"]["clusters"]}


def _endpoints(cluster: dict[str, Any]) -> set[tuple[str, int]]:
    return {
        (e["endpoint"]["address"]["socket_address"]["address"],
         e["endpoint"]["address"]["socket_address"]["port_value"])
        for group in cluster["load_assignment"]["endpoints"]
        for e in group["lb_endpoints"]
    }  # fmt: skip


def test_envoy_balances_grpc_calls_over_http2_to_healthy_replicas() -> None:
    cluster = _clusters()["visionstudio_grpc"]
    protocol = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2_protocol_options" in protocol["explicit_http_config"]
    assert _endpoints(cluster) == {(name, 50051) for name in REPLICAS}
    (check,) = cluster["health_checks"]
    assert check["grpc_health_check"]["service_name"] == SERVICE_NAME


def test_envoy_balances_http_to_ready_replicas() -> None:
    cluster = _clusters()["visionstudio_http"]
    assert _endpoints(cluster) == {(name, 8527) for name in REPLICAS}
    (check,) = cluster["health_checks"]
    assert check["http_health_check"]["path"] == "/readyz"


def test_envoy_listens_where_compose_publishes() -> None:
    ports = {
        listener["address"]["socket_address"]["port_value"]
        for listener in load_yaml(ENVOY)["static_resources"]["listeners"]
    }
    published = {int(p.split(":")[-1]) for p in _compose()["services"]["envoy"]["ports"]}
    assert ports <= published
