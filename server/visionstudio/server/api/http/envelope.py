"""The JSON failure answer every HTTP error takes, with its status and headers."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from visionstudio.server.api.http import answers
from visionstudio.server.api.status import http_headers, http_status
from visionstudio.server.errors import ServiceError
from visionstudio.server.jobs.events import Accepted, ImageReady


def error_response(
    error: ServiceError,
    job: Accepted | None = None,
    images: Sequence[ImageReady] = (),
    *,
    status: int | None = None,
) -> web.Response:
    """The JSON failure answer; `job` and `images` are what a failed job still delivered."""
    return web.json_response(
        answers.error_json(error, job, images),
        status=status or http_status(error),
        headers=http_headers(error),
    )
