"""Domain errors. Handlers and pipeline code raise these; only `status.py` turns them into
gRPC statuses (and HTTP answers), so no other module formats an error for a caller."""

from __future__ import annotations

from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class ServiceError(Exception):
    """An error whose message is safe to show to the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"
    # When set, callers are always told how long to wait (google.rpc.RetryInfo).
    default_retry_after_s: float | None = None

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        retry_after_s: float | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        # What the cause (e.g. the provider's Retry-After) asked for, if anything.
        self.retry_after_hint_s = retry_after_s
        self.retry_after_s = (
            retry_after_s if retry_after_s is not None else self.default_retry_after_s
        )
        self.metadata = metadata or {}


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, description: str, *, reason: str | None = None) -> None:
        super().__init__(f"{field}: {description}", reason=reason)
        self.violations = [FieldViolation(field, description)]


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "API_KEY_INVALID"


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class MethodNotAllowed(ServiceError):
    """An HTTP route asked with a method it does not take."""

    code = grpc.StatusCode.UNIMPLEMENTED
    reason = "METHOD_NOT_ALLOWED"


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RATE_LIMITED"
    default_retry_after_s = 5.0


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UPSTREAM_UNAVAILABLE"
    default_retry_after_s = 1.0


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"


class ContentPolicyViolation(ServiceError):
    """The provider's safety system refused the prompt or image: never retried."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "CONTENT_POLICY_VIOLATION"


class ProviderRejected(ServiceError):
    """The provider refused a request as invalid; what it said is passed on."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "PROVIDER_REJECTED"


class ProviderMisconfigured(ServiceError):
    """The provider refused this service's own credentials: the operator's problem."""

    code = grpc.StatusCode.INTERNAL
    reason = "PROVIDER_CREDENTIALS_REFUSED"


class JobFailed(ServiceError):
    """A watched job ended without delivering everything (what failed is in the message)."""

    code = grpc.StatusCode.ABORTED
    reason = "JOB_FAILED"


class JobCancelled(ServiceError):
    """A job ended because CancelJob cancelled it (the reason is in the message)."""

    code = grpc.StatusCode.CANCELLED
    reason = "JOB_CANCELLED"


class Internal(ServiceError):
    code = grpc.StatusCode.INTERNAL
    reason = "INTERNAL"
