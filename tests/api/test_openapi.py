"""The OpenAPI document of the JSON surface: behind the key, and true to the routes it serves."""

from __future__ import annotations

import json

from visionstudio.server.api.http import models as http_models

from tests.support.harness import API_KEY
from tests.support.json_api import ROUTES, Api


async def test_openapi_document_describes_the_surface(api: Api) -> None:
    async with api.http.get(api.base + "/openapi.json") as resp:
        assert resp.status == 401
    keyed = {"X-API-Key": API_KEY}
    async with api.http.get(api.base + "/openapi.json", headers=keyed) as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    schemes = doc["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"} in schemes.values()
    schemas = doc["components"]["schemas"]
    for endpoint in http_models.ENDPOINTS:
        operation = doc["paths"][endpoint.path]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        name = ref.rsplit("/", 1)[1]
        assert set(schemas[name]["properties"]) == set(endpoint.body.model_fields)
        assert schemas[name]["additionalProperties"] is False
        answers = operation["responses"]
        assert {"application/json", "text/event-stream"} <= set(answers["200"]["content"])
        assert {"400", "401", "429", "502", "503", "504"} <= set(answers)
        assert operation["security"]
    job_routes = {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/watch", "/usage"}
    # The batch routes' operations are checked in tests/batches/test_http_batches.py.
    batch_routes = {"/batches", "/batches/{batch_id}", "/batches/{batch_id}/events"}
    others = {"/jobs/{job_id}/cancel", "/batches/{batch_id}/cancel", *batch_routes}
    listed = {p.removeprefix(http_models.API_PREFIX) for p in doc["paths"]}
    assert listed == {*ROUTES, *job_routes, *others}
    for path in job_routes:
        assert doc["paths"][http_models.API_PREFIX + path]["get"]["security"]
    ratio = schemas["GenerateImageRequest"]["properties"]["aspect_ratio"]
    assert "3:2" in json.dumps(ratio)
    assert schemas["Quality"]["enum"] == ["auto", "low", "medium", "high"]
    # Every $ref points at a schema that exists.
    refs = {r.rsplit("/", 1)[1] for r in _refs(doc)}
    assert refs <= set(schemas)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []
