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
    SuccessResponse,
    SummaryEvent,
)
from visionstudio.server.api.http.models import API_PREFIX, ENDPOINTS, Endpoint
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
    "one `image` (Image) per finished image in completion order, then `summary` "
    "(SummaryEvent); or `error` (ErrorResponse) if the job fails after the stream started. "
    f"A comment line `: keepalive` is sent every {KEEPALIVE_S:g} s. Errors before the job "
    "starts are ordinary JSON answers with their HTTP status."
)


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
    events: dict[str, type[BaseModel]] = {
        "accepted": AcceptedEvent,
        "image": Image,
        "summary": SummaryEvent,
        "error": ErrorResponse,
    }
    return {
        "operationId": endpoint.operation_id,
        "summary": (endpoint.body.__doc__ or "").strip(),
        "security": [{_SECURITY_SCHEME: []}],
        "requestBody": {"required": True, "content": _json(endpoint.body)},
        "responses": {
            "200": {
                "description": "The job's images (JSON), or its events as they happen (SSE).",
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


@functools.cache
def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 (whose schemas are JSON Schema 2020-12, what pydantic emits)."""
    requests: list[type[BaseModel]] = [e.body for e in ENDPOINTS]
    answers: list[type[BaseModel]] = [SuccessResponse, ErrorResponse, AcceptedEvent, SummaryEvent]
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
        "paths": {e.path: {"post": _operation(e)} for e in ENDPOINTS},
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                _SECURITY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            },
        },
    }
