"""The studio's files over plain HTTP: no key needed, a strict policy, nothing else opened."""

from __future__ import annotations

import aiohttp

from tests.studio.conftest import studio_url
from tests.support.harness import Harness


async def test_pages_load_without_a_key_under_a_strict_policy(harness: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(studio_url(harness)) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            policy = resp.headers["Content-Security-Policy"]
            assert "default-src 'none'" in policy and "script-src 'self'" in policy
            assert "unsafe-inline" not in policy
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            page = await resp.text()
        assert "<script>" not in page and "style=" not in page
        async with http.get(studio_url(harness) + "api.js") as resp:
            assert resp.status == 200 and resp.content_type == "text/javascript"
        base = studio_url(harness).removesuffix("/")
        async with http.get(base, allow_redirects=False) as resp:
            assert resp.status == 308 and resp.headers["Location"] == "/studio/"


async def test_unknown_files_and_the_api_still_need_what_they_needed(harness: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(studio_url(harness) + "../settings.py") as resp:
            assert resp.status == 404
        async with http.get(studio_url(harness) + "nope.js") as resp:
            assert resp.status == 404
            assert (await resp.json())["success"] is False
        api = f"http://127.0.0.1:{harness.service.http_port}/api/v1/openai/openapi.json"
        async with http.get(api) as resp:
            assert resp.status == 401
