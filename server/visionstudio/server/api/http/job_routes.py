"""Job routes of the JSON surface that act on a job: cancel."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web
from visionstudio.server.api.http import answers
from visionstudio.server.api.http.middleware import caller_of
from visionstudio.server.jobs.queries import JobView
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.jobs.spec import Usage

CANCEL_PATH = "/api/v1/openai/jobs/{job_id}/cancel"


class JobRoutes:
    def __init__(self, studio: ImageStudio) -> None:
        self._studio = studio

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(CANCEL_PATH, self._cancel)

    async def _cancel(self, request: web.Request) -> web.Response:
        view = await self._studio.cancel(request.match_info["job_id"], caller_of(request))
        return web.json_response({"success": True, "data": job_json(view)})


def job_json(view: JobView) -> dict[str, Any]:
    """A job as the JSON surface shows it: the gRPC `Job` message's fields."""
    job = view.job
    return {
        "job_id": job.id,
        "operation": job.rpc,
        "status": job.status.value,
        "model": job.model,
        "parameters": job.params,
        "number_of_images": job.number_of_images,
        "images": [answers.image_json(image) for image in view.images],
        "usage": asdict(job.usage or Usage()),
        "error": job.error,
        "create_time": job.created_at,
        "update_time": job.updated_at,
        "idempotency_key": job.idempotency_key,
    }
