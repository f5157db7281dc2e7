"""What every HTTP request goes through: counted by surface, keys checked before the body, and
every refusal (aiohttp's own 404 and 405 included) in the JSON error envelope."""

from __future__ import annotations

import aiohttp
import pytest
from visionstudio.server.api.http.models import API_PREFIX

from tests.support.harness import API_KEY, Harness

GENERATE = f"{API_PREFIX}/image/generation/generate-image"


def _base(harness: Harness) -> str:
    return f"http://127.0.0.1:{harness.service.http_port}"


def _calls(harness: Harness, route: str, code: str) -> float:
    labels = {"surface": "http", "method": route, "code": code}
    return harness.metrics.registry.get_sample_value("visionstudio_calls_total", labels) or 0.0


async def test_http_calls_are_counted_by_route_and_status(harness: Harness) -> None:
    async with aiohttp.ClientSession(_base(harness)) as http:
        ok = await http.post(GENERATE, json={"prompt": "a fox"}, headers={"X-API-Key": API_KEY})
        assert ok.status == 200
        refused = await http.post(GENERATE, json={"prompt": "a fox"})
        assert refused.status == 401
    assert _calls(harness, GENERATE, "200") == 1
    assert _calls(harness, GENERATE, "401") == 1


async def test_unknown_routes_and_methods_answer_in_the_error_envelope(harness: Harness) -> None:
    async with aiohttp.ClientSession(_base(harness)) as http:
        missing = await http.get(f"{API_PREFIX}/no/such/route")
        assert missing.status == 404
        body = await missing.json()
        assert body["success"] is False
        assert body["error"]["reason"] == "NOT_FOUND"
        wrong_method = await http.get(GENERATE, headers={"X-API-Key": API_KEY})
        assert wrong_method.status == 405
        body = await wrong_method.json()
        assert (body["success"], body["error"]["reason"]) == (False, "METHOD_NOT_ALLOWED")
    # Unmatched paths share one label value, so probing cannot grow the metric without bound.
    assert _calls(harness, "unmatched", "404") == 1


@pytest.mark.parametrize("harness", [{"max_input_bytes": 1000}], indirect=True)
async def test_a_body_from_an_unknown_caller_is_refused_before_it_is_read(
    harness: Harness,
) -> None:
    # Over the body limit (about 1 MiB here): had the server read it first, the answer is 413.
    body = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    async with aiohttp.ClientSession(_base(harness)) as http:
        resp = await http.post(GENERATE, data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 401
        assert (await resp.json())["error"]["reason"] == "API_KEY_INVALID"
