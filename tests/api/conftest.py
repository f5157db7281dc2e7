"""The JSON surface of the harness's server, for the HTTP API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from visionstudio.server.api.http import models as http_models

from tests.support.harness import Harness
from tests.support.json_api import Api


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, f"http://127.0.0.1:{harness.service.http_port}{http_models.API_PREFIX}")
