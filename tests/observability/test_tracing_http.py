"""Tracing a JSON request: one server span continuing the caller's trace."""

from __future__ import annotations

import secrets

import aiohttp
from opentelemetry import trace

from tests.support.harness import API_KEY, Harness
from tests.support.spans import GENERATE_ROUTE, Spans, span_context, traceparent


async def test_a_json_request_is_one_server_span_continuing_the_callers_trace(
    spans: Spans, harness: Harness
) -> None:
    caller_trace, caller_span = secrets.randbits(128), secrets.randbits(64)
    url = f"http://127.0.0.1:{harness.service.http_port}{GENERATE_ROUTE}"
    headers = {"X-API-Key": API_KEY, "traceparent": traceparent(caller_trace, caller_span)}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"prompt": "a fox"}, headers=headers) as resp:
            assert resp.status == 200
        async with http.post(url, json={"prompt": "a fox"}) as resp:
            assert resp.status == 401
    ok, refused = spans.named(f"POST {GENERATE_ROUTE}")
    assert ok.kind is trace.SpanKind.SERVER
    assert ok.parent is not None and ok.parent.span_id == caller_span
    assert span_context(ok).trace_id == caller_trace
    attributes = ok.attributes or {}
    assert attributes["http.request.method"] == "POST"
    assert attributes["http.route"] == GENERATE_ROUTE
    assert attributes["http.response.status_code"] == 200
    [job] = spans.children(ok, "visionstudio.job")
    assert len(spans.children(job, "visionstudio.image")) == 1
    assert (refused.attributes or {})["http.response.status_code"] == 401
    assert refused.status.status_code is trace.StatusCode.UNSET
