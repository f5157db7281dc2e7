"""Renders the repository's Kustomize overlays in Python, so `make test` needs no kubectl.

Only the features deploy/kubernetes uses are implemented, and any other kustomization key is
refused, so a manifest change that this renderer would get wrong fails instead of passing.
Where kubectl is installed, tests/deploy compares this rendering with `kubectl kustomize`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

Resource = dict[str, Any]

SUPPORTED = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas", "patches"}
)

# The kinds the `replicas` field applies to.
SCALABLE = frozenset({"Deployment", "ReplicaSet", "ReplicationController", "StatefulSet"})


class UnsupportedKustomization(ValueError):
    pass


def render(directory: Path) -> list[Resource]:
    """The resources `kubectl kustomize directory` prints (in file order, not kind order)."""
    config = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(config) - SUPPORTED
    if unknown:
        raise UnsupportedKustomization(f"{directory}: unsupported keys {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in config.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources.extend(render(path))
        else:
            resources.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for patch in config.get("patches", []):
        _patch(resources, directory / patch["path"], patch["target"])
    for replicas in config.get("replicas", []):
        for resource in _matching(resources, {"name": replicas["name"]}):
            if resource["kind"] in SCALABLE:
                resource["spec"]["replicas"] = replicas["count"]
    for image in config.get("images", []):
        _set_image(resources, image)
    for labels in config.get("labels", []):
        if labels.get("includeSelectors") or labels.get("includeTemplates"):
            raise UnsupportedKustomization("labels into selectors or templates")
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(labels["pairs"])
    if "namespace" in config:
        for resource in resources:
            resource["metadata"]["namespace"] = config["namespace"]
    return resources


def _matching(resources: list[Resource], target: dict[str, str]) -> list[Resource]:
    found = [
        r
        for r in resources
        if all(
            (r["kind"] if key == "kind" else r["metadata"]["name"]) == value
            for key, value in target.items()
        )
    ]
    if not found:
        raise UnsupportedKustomization(f"nothing matches {target}")
    return found


def _patch(resources: list[Resource], path: Path, target: dict[str, str]) -> None:
    operations = yaml.safe_load(path.read_text())
    if not isinstance(operations, list):
        raise UnsupportedKustomization(f"{path}: only JSON 6902 patches are supported")
    for resource in _matching(resources, target):
        patched = jsonpatch.apply_patch(resource, operations)
        resource.clear()
        resource.update(copy.deepcopy(patched))


def _set_image(resources: list[Resource], image: dict[str, str]) -> None:
    for resource in resources:
        pod = resource.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name = container["image"].split("@")[0].rsplit(":", 1)[0]
            if name == image["name"]:
                reference = image.get("newName", name)
                if "newTag" in image:
                    reference += f":{image['newTag']}"
                container["image"] = reference
