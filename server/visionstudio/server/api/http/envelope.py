"""How the JSON surface writes an answer, and the failure answer every HTTP error takes, with
its status and headers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aiohttp import web
from visionstudio.server.api.http import answers
from visionstudio.server.api.status import http_headers, http_status
from visionstudio.server.errors import ServiceError
from visionstudio.server.jobs.events import Accepted, ImageReady


def json_answer(
    body: dict[str, Any], *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer as UTF-8 (json.dumps would escape every non-ASCII character, up to 12 bytes
    for one, tripling a page of long prompts)."""
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(
    error: ServiceError,
    job: Accepted | None = None,
    images: Sequence[ImageReady] = (),
    *,
    status: int | None = None,
) -> web.Response:
    """The JSON failure answer; `job` and `images` are what a failed job still delivered."""
    return json_answer(
        answers.error_json(error, job, images),
        status=status or http_status(error),
        headers=http_headers(error),
    )
