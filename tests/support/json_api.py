"""The JSON surface of the service, called as a reference API client would."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support.harness import API_KEY

GENERATE = "/image/generation/generate-image"
EDIT = "/image/editing/edit-image"
INPAINT = "/image/editing/inpaint"
ROUTES = (GENERATE, EDIT, INPAINT)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Api:
    """The JSON surface of one running server, at `base` (the API prefix included)."""

    http: aiohttp.ClientSession
    base: str

    async def post(self, route: str, body: object, *, key: str | None = API_KEY) -> Answer:
        headers = {"X-API-Key": key} if key is not None else {}
        async with self.http.post(self.base + route, json=body, headers=headers) as resp:
            return Answer(resp.status, await resp.json(), dict(resp.headers))

    async def post_raw(self, route: str, data: bytes) -> Answer:
        headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
        async with self.http.post(self.base + route, data=data, headers=headers) as resp:
            return Answer(resp.status, await resp.json(), dict(resp.headers))

    def stream(self, route: str, body: object) -> Any:
        headers = {"X-API-Key": API_KEY, "Accept": "text/event-stream"}
        return self.http.post(self.base + route, json=body, headers=headers)


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, JSON data) per Server-Sent Event; comment lines are skipped."""
    name, data = "", ""
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and name:
            yield name, json.loads(data)
            name, data = "", ""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def load(url: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET without a key, as a browser would load an image."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, resp.content_type, await resp.read()


def sizes(answer: Answer) -> list[tuple[int, int]]:
    return [(i["width"], i["height"]) for i in answer.body["data"]["images"]]
