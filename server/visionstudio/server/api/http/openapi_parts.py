"""What the OpenAPI document's operations are built from: references to the schemas, the error
answers, parameters, event streams and the shape of a read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from visionstudio.server.api.http.answers import ErrorResponse
from visionstudio.server.api.http.sse import EVENT_STREAM

REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "ApiKeyAuth"
SECURITY: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]
ERROR_ANSWERS = {
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


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def json_content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": ref(model)}}


def error_answers(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {"description": ERROR_ANSWERS[status], "content": json_content(ErrorResponse)}
        for status in statuses
    }


def event_stream(
    events: dict[str, type[BaseModel]], description: str | None = None
) -> dict[str, Any]:
    """The `text/event-stream` content of an answer: event names and their JSON schemas."""
    schema = {"type": "string"} | ({"description": description} if description else {})
    return {
        EVENT_STREAM: {
            "schema": schema,
            "x-events": {name: ref(model) for name, model in events.items()},
        }
    }


def parameters(query: type[BaseModel] | None, *, path: str | None = None) -> list[dict[str, Any]]:
    """The path parameter `path` (if any), then the query model's keys."""
    found = [{"name": path, "in": "path", "required": True, "schema": {"type": "string"}}] * bool(
        path
    )
    if query is not None:
        for name, field in query.model_json_schema(ref_template=REF)["properties"].items():
            found.append({"name": name, "in": "query", "required": False, "schema": field})
    return found


def read(
    operation_id: str,
    summary: str,
    answer: type[BaseModel],
    query: type[BaseModel] | None = None,
    *,
    path: str | None = None,
    missing: str = "job",
) -> dict[str, Any]:
    """A keyed call answering `answer`; 404 when the `missing` thing is not the caller's."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": SECURITY,
        "parameters": parameters(query, path=path),
        "responses": {
            "200": {"description": summary, "content": json_content(answer)},
            "404": {
                "description": f"No such {missing} of this key.",
                "content": json_content(ErrorResponse),
            },
            **error_answers(400, 401, 500),
        },
    }
