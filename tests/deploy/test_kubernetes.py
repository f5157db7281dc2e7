"""deploy/kubernetes: rendered, valid for Kubernetes, and consistent with the server's settings."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from visionstudio.server.api.readiness import SERVICE_NAME

from tests.deploy.artifacts import KUBERNETES
from tests.deploy.kustomize import Resource, render

BASE = KUBERNETES / "base"
OVERLAY = KUBERNETES / "overlays" / "example"
# The oldest release the manifests support (preStop `sleep` is on by default from 1.30),
# and the newest whose schemas kubernetes-validate ships.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# The container's variables that carry credentials: always from a Secret.
SECRET_VARIABLES = {
    "VISIONSTUDIO_API_KEYS",
    "VISIONSTUDIO_URL_SIGNING_KEY",
    "VISIONSTUDIO_DATABASE_URL",
    "OPENAI_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}


def _one(resources: list[Resource], kind: str) -> Resource:
    (found,) = [r for r in resources if r["kind"] == kind]
    return found


def _container(resources: list[Resource]) -> dict[str, Any]:
    (container,) = _one(resources, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


@pytest.mark.parametrize("directory", [BASE, OVERLAY], ids=["base", "overlay"])
@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_are_valid_kubernetes_objects(directory: Path, version: str) -> None:
    for resource in render(directory):
        kubernetes_validate.validate(resource, version, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_renderer_agrees_with_kubectl_kustomize() -> None:
    printed = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAY)], capture_output=True, text=True, check=True
    ).stdout

    def by_name(resources: list[Resource]) -> dict[tuple[str, str], Resource]:
        return {(r["kind"], r["metadata"]["name"]): r for r in resources}

    assert by_name(render(OVERLAY)) == by_name([d for d in yaml.safe_load_all(printed) if d])


def test_the_overlay_sets_namespace_image_replicas_and_its_bucket() -> None:
    resources = render(OVERLAY)
    assert {r["metadata"]["namespace"] for r in resources} == {"visionstudio"}
    container = _container(resources)
    assert container["image"] == "registry.example.com/visionstudio:0.1.0"
    assert _one(resources, "Deployment")["spec"]["replicas"] == 3
    env = _env(container)
    assert env["VISIONSTUDIO_BLOB_URL"]["value"] == "s3://example-visionstudio-images/images"
    hpa = _one(resources, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "visionstudio"
    assert hpa["spec"]["minReplicas"] >= 2


def test_termination_grace_covers_pre_stop_and_the_drain() -> None:
    resources = render(BASE)
    pod = _one(resources, "Deployment")["spec"]["template"]["spec"]
    container = _container(resources)
    grace_s = float(_env(container)["VISIONSTUDIO_SHUTDOWN_GRACE_S"]["value"])
    pre_stop_s = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    # A margin after the drain for closing the stores and flushing spans.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop_s + grace_s + 5


def test_probes_use_the_grpc_health_service_on_the_health_port() -> None:
    container = _container(render(BASE))
    health_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "health")
    # The server listens for health checks there (off the event loop) only when told to.
    assert _env(container)["VISIONSTUDIO_HEALTH_PORT"]["value"] == str(health_port)
    assert container["readinessProbe"]["grpc"] == {"port": health_port, "service": SERVICE_NAME}
    # Liveness and start-up ask for the whole server, which stays SERVING while the provider
    # is unreachable: a provider outage must not restart every pod.
    assert container["livenessProbe"]["grpc"] == {"port": health_port}
    assert container["startupProbe"]["grpc"] == {"port": health_port}


def test_secrets_are_referenced_never_inlined() -> None:
    resources = render(OVERLAY)
    assert not [r for r in resources if r["kind"] == "Secret"]
    env = _env(_container(resources))
    assert set(env) >= SECRET_VARIABLES
    for name in SECRET_VARIABLES:
        assert "value" not in env[name], name
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "visionstudio"


def test_the_providers_file_is_a_mounted_config_map() -> None:
    resources = render(BASE)
    container = _container(resources)
    path = Path(_env(container)["VISIONSTUDIO_PROVIDERS_FILE"]["value"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
    pod = _one(resources, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config_map = _one(resources, "ConfigMap")
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    deployments = tomllib.loads(config_map["data"][path.name])["deployment"]
    assert deployments
    for deployment in deployments:
        assert {"name", "kind", "api_key_env", "model"} <= set(deployment)
        # The key itself comes from the Secret, through the variable the table names.
        assert deployment["api_key_env"] in SECRET_VARIABLES


def test_services_and_budget_select_the_pods() -> None:
    resources = render(BASE)
    pod_labels = _one(resources, "Deployment")["spec"]["template"]["metadata"]["labels"]
    services = {r["metadata"]["name"]: r for r in resources if r["kind"] == "Service"}
    assert services["visionstudio-headless"]["spec"]["clusterIP"] == "None"
    for service in services.values():
        assert service["spec"]["selector"].items() <= pod_labels.items()
    selector = _one(resources, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()


def test_pods_run_as_the_image_user_without_privileges() -> None:
    resources = render(BASE)
    pod = _one(resources, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    context = _container(resources)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
