"""Domain errors as google.rpc.Status (AIP-193): message, ErrorInfo, BadRequest, RetryInfo."""

from __future__ import annotations

import math

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from visionstudio.server.errors import (
    InvalidArgument,
    MethodNotAllowed,
    ProviderMisconfigured,
    ServiceError,
)

ERROR_DOMAIN = "visionstudio"


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_rpc_status(error: ServiceError) -> status_pb2.Status:
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
            )
        )
    ]
    if isinstance(error, InvalidArgument):
        violations = [
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations
        ]
        details.append(_pack(error_details_pb2.BadRequest(field_violations=violations)))
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_s * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    code: int = error.code.value[0]
    return status_pb2.Status(code=code, message=error.message, details=details)


def to_grpc_status(error: ServiceError) -> grpc.Status:
    status: grpc.Status = rpc_status.to_status(to_rpc_status(error))
    return status


_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ABORTED: 409,
    # The job was cancelled (CancelJob): the request can no longer succeed as asked.
    grpc.StatusCode.CANCELLED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.INTERNAL: 500,
}


def http_status(error: ServiceError) -> int:
    # INTERNAL over gRPC (the caller cannot fix it), but over HTTP the conventional answer for
    # an upstream that refuses this service's own key or model is a bad gateway.
    if isinstance(error, ProviderMisconfigured):
        return 502
    if isinstance(error, MethodNotAllowed):
        return 405
    return _HTTP_STATUS.get(error.code, 500)


def http_headers(error: ServiceError) -> dict[str, str]:
    """Headers an HTTP error answer carries besides its body: Retry-After when waiting helps."""
    if error.retry_after_s is None:
        return {}
    return {"Retry-After": str(max(0, math.ceil(error.retry_after_s)))}
