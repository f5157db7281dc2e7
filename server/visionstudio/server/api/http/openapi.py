"""The OpenAPI 3.1 document of the JSON surface, generated from the models it validates with."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
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
from visionstudio.server.api.http.job_routes import JOB_PATH, JOBS_PATH, USAGE_PATH, WATCH_PATH
from visionstudio.server.api.http.models import API_PREFIX, ENDPOINTS, JOB_ID_HEADER, Endpoint
from visionstudio.server.api.http.sse import EVENT_STREAM, KEEPALIVE_S

OPENAPI_PATH = f"{API_PREFIX}/openapi.json"

_REF = "#/components/schemas/{model}"
_SECURITY_SCHEME = "ApiKeyAuth"
_ERROR_ANSWERS = {
    400: "A key, type, spelling or value is wrong (`field_violations` names it), or the "
    "provider refused the request (reason PROVIDER_REJECTED or CONTENT_POLICY_VIOLATION).",
    401: "The `X-API-Key` header is missing or wrong.",
    413: "The body is larger than an image and a mask at the input limit.",
    429: "The provider's rate limit was reached; `Retry-After` says when to retry if known.",
    500: "An internal error (details are logged, never sent).",
    502: "The provider refused this service's own credentials or model: an operator problem.",
    503: "The provider failed or could not be reached.",
    504: "The call took longer than the service's limit (`VISIONSTUDIO_MAX_CALL_S`).",
}
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


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    errors: dict[str, Any] = {
        str(status): {"description": text, "content": _json(ErrorResponse)}
        for status, text in _ERROR_ANSWERS.items()
    }
    errors["429"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
    }
    events = _EVENTS
    return {
        "operationId": endpoint.operation_id,
        "summary": (endpoint.body.__doc__ or "").strip(),
        "security": [{_SECURITY_SCHEME: []}],
        "requestBody": {"required": True, "content": _json(endpoint.body)},
        "responses": {
            "200": {
                "description": "The job's images (JSON), or its events as they happen (SSE).",
                "headers": _JOB_ID_HEADER,
                "content": {
                    **_json(SuccessResponse),
                    EVENT_STREAM: {
                        "schema": {"type": "string", "description": _STREAM_DESCRIPTION},
                        "x-events": {name: _ref(model) for name, model in events.items()},
                    },
                },
            },
            **errors,
        },
    }


def _parameters(query: type[BaseModel], *, job_id: bool = False) -> list[dict[str, Any]]:
    found = [
        {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    ] * job_id
    schema = query.model_json_schema()
    for name, field in schema["properties"].items():
        found.append({"name": name, "in": "query", "required": False, "schema": field})
    return found


def _read(
    operation_id: str, summary: str, answer: type[BaseModel], query: type[BaseModel] | None
) -> dict[str, Any]:
    errors = {status: _ERROR_ANSWERS[int(status)] for status in ("400", "401", "500")}
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": [{_SECURITY_SCHEME: []}],
        "parameters": _parameters(query) if query else [],
        "responses": {
            "200": {"description": summary, "content": _json(answer)},
            "404": {"description": "No such job of this key.", "content": _json(ErrorResponse)},
            **{s: {"description": t, "content": _json(ErrorResponse)} for s, t in errors.items()},
        },
    }


def _job_paths() -> dict[str, Any]:
    job = _read("getJob", "One of the caller's jobs, with its images.", JobAnswer, None)
    job["parameters"] = _parameters(WatchQuery, job_id=True)[:1]
    watch = _read("watchJob", "The job's events as Server-Sent Events.", JobAnswer, WatchQuery)
    watch["parameters"] = _parameters(WatchQuery, job_id=True)
    watch["responses"]["200"] = {
        "description": "As the image routes' event stream: `accepted`, the images stored so "
        "far, the rest as they finish, then `summary` or `error`.",
        "content": {
            EVENT_STREAM: {
                "schema": {"type": "string"},
                "x-events": {name: _ref(model) for name, model in _EVENTS.items()},
            }
        },
    }
    return {
        JOBS_PATH: {
            "get": _read("listJobs", "The caller's jobs, newest first.", JobPageAnswer, JobFilter)
        },
        JOB_PATH: {"get": job},
        WATCH_PATH: {"get": watch},
        USAGE_PATH: {
            "get": _read(
                "getUsage", "The caller's usage over a time range.", UsageAnswer, UsageRange
            )
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 (whose schemas are JSON Schema 2020-12, what pydantic emits)."""
    requests: list[type[BaseModel]] = [e.body for e in ENDPOINTS]
    answers: list[type[BaseModel]] = [
        SuccessResponse,
        ErrorResponse,
        AcceptedEvent,
        PreviewEvent,
        SummaryEvent,
        JobAnswer,
        JobPageAnswer,
        UsageAnswer,
    ]
    _, schemas = models_json_schema(
        [(m, "validation") for m in requests] + [(m, "serialization") for m in answers],
        ref_template=_REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "visionstudio image API",
            "version": "1",
            "description": "Generate, edit and inpaint images with OpenAI's image models.",
        },
        "paths": {**{e.path: {"post": _operation(e)} for e in ENDPOINTS}, **_job_paths()},
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                _SECURITY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            },
        },
    }
