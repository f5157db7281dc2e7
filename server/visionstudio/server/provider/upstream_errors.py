"""What the caller is told about an upstream failure: OpenAI's errors as domain errors."""

from __future__ import annotations

import logging

import openai
from visionstudio.server.errors import (
    ContentPolicyViolation,
    DeadlineExceeded,
    Internal,
    ProviderMisconfigured,
    ProviderRejected,
    ResourceExhausted,
    ServiceError,
    Unavailable,
)
from visionstudio.server.provider.rate_headers import retry_after_s

log = logging.getLogger(__name__)

MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
# A 429 that no amount of waiting fixes: the account's credit or quota is spent.
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
# A 429 worth waiting for (the account's rate limit); the budget waits, retries do not count it.
RATE_LIMITED = "RATE_LIMITED"


def map_openai_error(exc: openai.APIError) -> ServiceError:
    """What the caller is told about an upstream failure (never the upstream's secrets)."""
    if isinstance(exc, openai.APITimeoutError):
        return DeadlineExceeded("the image provider did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return Unavailable("the image provider could not be reached")
    if not isinstance(exc, openai.APIStatusError):
        return Unavailable("the image provider sent an answer that could not be read")
    return _status_error(exc)


def _status_error(exc: openai.APIStatusError) -> ServiceError:
    status = exc.status_code
    meta = {"upstream_status": str(status)}
    if exc.request_id:
        meta["upstream_request_id"] = exc.request_id
    if exc.code:
        meta["upstream_code"] = exc.code
    retry_after = retry_after_s(exc.response.headers)
    if status in (401, 403):
        log.error("provider refused the service's credentials: HTTP %s %s", status, exc.code)
        return ProviderMisconfigured(
            "the image provider refused this service's credentials; this is not the caller's "
            "fault and the operators must fix the provider key",
            metadata=meta,
        )
    if status in (408, 409):
        return Unavailable(f"the image provider answered HTTP {status}; retry", metadata=meta)
    if status == 429 and exc.code in QUOTA_CODES:
        log.error("provider account out of quota: %s", exc.code)
        return ProviderMisconfigured(
            "the image provider account has no quota left; the operators must fix its billing",
            reason="PROVIDER_QUOTA_EXHAUSTED",
            metadata=meta,
        )
    if status == 429:
        return ResourceExhausted(
            "the image provider's rate limit was reached; retry later",
            reason=RATE_LIMITED,
            retry_after_s=retry_after,
            metadata=meta,
        )
    if status >= 500:
        return Unavailable(
            f"the image provider failed (HTTP {status}); retry later",
            retry_after_s=retry_after,
            metadata=meta,
        )
    return _refusal(exc, status, meta)


def _refusal(exc: openai.APIStatusError, status: int, meta: dict[str, str]) -> ServiceError:
    """A 4xx that retrying cannot change."""
    if exc.code in MODERATION_CODES:
        return ContentPolicyViolation(
            "the image provider's safety system refused this request", metadata=meta
        )
    if status == 400:
        if exc.param:
            meta["upstream_param"] = exc.param
        said = exc.body.get("message") if isinstance(exc.body, dict) else None
        return ProviderRejected(
            f"the image provider refused the request: {said or 'no reason given'}", metadata=meta
        )
    if status == 404:
        log.error("provider answered 404 (model unknown?): code %s", exc.code)
        return ProviderMisconfigured(
            "the configured image model is unknown upstream", metadata=meta
        )
    return Internal(f"the image provider answered HTTP {status}", metadata=meta)
