"""The batch routes of the JSON surface, called as an HTTP client would."""

from __future__ import annotations

import json
from typing import Any

from tests.support.harness import API_KEY
from tests.support.json_api import Api, sse_events

EVENTS = {"Accept": "text/event-stream"}
Event = tuple[str, dict[str, Any]]


async def submit(
    api: Api, body: object, *, headers: dict[str, str] | None = None, key: str = API_KEY
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POSTs a batch as JSON (or `body` as it is, when bytes); (status, body, headers)."""
    sent = {"X-API-Key": key, "Content-Type": "application/json", **(headers or {})}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with api.http.post(f"{api.base}/batches", data=data, headers=sent) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def get(api: Api, path: str, *, key: str = API_KEY) -> tuple[int, dict[str, Any]]:
    async with api.http.get(api.base + path, headers={"X-API-Key": key}) as resp:
        return resp.status, await resp.json()


async def follow(api: Api, batch_id: str) -> list[Event]:
    """The batch's events (GET /batches/{id}/events) to the end of the stream."""
    headers = {"X-API-Key": API_KEY, **EVENTS}
    async with api.http.get(f"{api.base}/batches/{batch_id}/events", headers=headers) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        return [event async for event in sse_events(resp)]


def violations(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v["field"], v["description"]) for v in body["error"]["details"]["field_violations"]]
