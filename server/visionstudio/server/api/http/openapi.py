"""The OpenAPI 3.1 document of the JSON surface, generated from the models it validates with."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from visionstudio.server.api.http import batch_openapi
from visionstudio.server.api.http.answers import (
    AcceptedEvent,
    ErrorResponse,
    Image,
    PreviewEvent,
    SuccessResponse,
    SummaryEvent,
)
from visionstudio.server.api.http.job_answers import (
    JobAnswer,
    JobFilter,
    JobPageAnswer,
    UsageAnswer,
    UsageRange,
    WatchQuery,
)
from visionstudio.server.api.http.job_routes import (
    CANCEL_PATH,
    JOB_PATH,
    JOBS_PATH,
    USAGE_PATH,
    WATCH_PATH,
)
from visionstudio.server.api.http.models import API_PREFIX, ENDPOINTS, JOB_ID_HEADER, Endpoint
from visionstudio.server.api.http.openapi_parts import (
    REF,
    SECURITY,
    SECURITY_SCHEME,
    error_answers,
    event_stream,
    json_content,
    parameters,
    read,
)
from visionstudio.server.api.http.sse import KEEPALIVE_S

OPENAPI_PATH = f"{API_PREFIX}/openapi.json"

_STREAM_DESCRIPTION = (
    "With `Accept: text/event-stream`: Server-Sent Events. `accepted` (AcceptedEvent) first, "
    "one `image` (Image) per finished image in completion order, `preview` (PreviewEvent) "
    "with `partial_images`, `progress` while nothing else is sent, then `summary` "
    "(SummaryEvent); or `error` (ErrorResponse) if the job fails after the stream started. "
    f"A comment line `: keepalive` is sent every {KEEPALIVE_S:g} s. Errors before the job "
    "starts are ordinary JSON answers with their HTTP status."
)
_EVENTS: dict[str, type[BaseModel]] = {
    "accepted": AcceptedEvent,
    "image": Image,
    "preview": PreviewEvent,
    "summary": SummaryEvent,
    "error": ErrorResponse,
}
_JOB_ID_HEADER = {
    JOB_ID_HEADER: {
        "description": "The job's id, on every answer of an accepted job (errors included).",
        "schema": {"type": "string"},
    }
}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    errors = error_answers(400, 401, 413, 429, 500, 502, 503, 504)
    errors["429"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
    }
    return {
        "operationId": endpoint.operation_id,
        "summary": (endpoint.body.__doc__ or "").strip(),
        "security": SECURITY,
        "requestBody": {"required": True, "content": json_content(endpoint.body)},
        "responses": {
            "200": {
                "description": "The job's images (JSON), or its events as they happen (SSE).",
                "headers": _JOB_ID_HEADER,
                "content": {
                    **json_content(SuccessResponse),
                    **event_stream(_EVENTS, _STREAM_DESCRIPTION),
                },
            },
            **errors,
        },
    }


def _job_paths() -> dict[str, Any]:
    job = read("getJob", "One of the caller's jobs, with its images.", JobAnswer, path="job_id")
    cancel = read(
        "cancelJob",
        "Stops one of the caller's jobs (a finished job is returned unchanged).",
        JobAnswer,
        path="job_id",
    )
    watch = read("watchJob", "The job's events as Server-Sent Events.", JobAnswer, WatchQuery)
    watch["parameters"] = parameters(WatchQuery, path="job_id")
    watch["responses"]["200"] = {
        "description": "As the image routes' event stream: `accepted`, the images stored so "
        "far, the rest as they finish, then `summary` or `error`.",
        "content": event_stream(_EVENTS),
    }
    return {
        JOBS_PATH: {
            "get": read("listJobs", "The caller's jobs, newest first.", JobPageAnswer, JobFilter)
        },
        JOB_PATH: {"get": job},
        WATCH_PATH: {"get": watch},
        CANCEL_PATH: {"post": cancel},
        USAGE_PATH: {
            "get": read(
                "getUsage", "The caller's usage over a time range.", UsageAnswer, UsageRange
            )
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 (whose schemas are JSON Schema 2020-12, what pydantic emits)."""
    requests: list[type[BaseModel]] = [e.body for e in ENDPOINTS] + batch_openapi.REQUESTS
    answers: list[type[BaseModel]] = [
        SuccessResponse,
        ErrorResponse,
        AcceptedEvent,
        PreviewEvent,
        SummaryEvent,
        JobAnswer,
        JobPageAnswer,
        UsageAnswer,
        *batch_openapi.ANSWERS,
    ]
    _, schemas = models_json_schema(
        [(m, "validation") for m in requests] + [(m, "serialization") for m in answers],
        ref_template=REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "visionstudio image API",
            "version": "1",
            "description": "Generate, edit and inpaint images with OpenAI's image models.",
        },
        "paths": {
            **{e.path: {"post": _operation(e)} for e in ENDPOINTS},
            **_job_paths(),
            **batch_openapi.paths(schemas["$defs"]),
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            },
        },
    }
