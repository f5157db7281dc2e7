"""The rich error details (AIP-193) of a failed call, decoded once, and a readable line of them."""

# Postponed annotations: grpc's classes are generic only in their type stubs.
from __future__ import annotations

from typing import cast

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

# google.rpc ships no type stubs, so the details are typed as plain messages.
# The details this client knows, in the order each is tried.
_KINDS = (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo)


def error_details(err: grpc.RpcError) -> list[Message]:
    """The ErrorInfo, BadRequest and RetryInfo a failed call carries, in the server's order."""
    if not isinstance(err, grpc.aio.AioRpcError | grpc.Call):
        # Only errors raised by a call carry a status.
        return []
    try:
        # AioRpcError offers the same synchronous accessors of grpc.Call that from_call reads.
        status: status_pb2.Status | None = rpc_status.from_call(cast(grpc.Call, err))
    except ValueError:
        # Details that contradict the call's own code or message are not to be trusted.
        return []
    if status is None:
        return []
    found: list[Message] = []
    for packed in status.details:
        for kind in _KINDS:
            detail = kind()
            if packed.Unpack(detail):
                found.append(detail)
                break
    return found


def describe_error(err: grpc.RpcError) -> str:
    """One readable line for a failed call: status code, message and any rich error details.

    E.g. `INVALID_ARGUMENT: invalid request (prompt: must not be empty; reason: PROMPT_EMPTY)`.
    """
    if not isinstance(err, grpc.aio.AioRpcError | grpc.Call):
        # A bare RpcError has nothing more to say.
        return str(err) or type(err).__name__
    message = err.details()
    text = f"{err.code().name}: {message}" if message else err.code().name
    parts = [part for detail in error_details(err) for part in _describe(detail)]
    # Leave out what the message or the code already says.
    parts = [p for p in parts if p not in (message or "") and p != f"reason: {err.code().name}"]
    return f"{text} ({'; '.join(parts)})" if parts else text


def _describe(detail: Message) -> list[str]:
    if isinstance(detail, error_details_pb2.BadRequest):
        return [f"{v.field}: {v.description}" for v in detail.field_violations]
    if isinstance(detail, error_details_pb2.ErrorInfo):
        return [f"reason: {detail.reason}"]
    if isinstance(detail, error_details_pb2.RetryInfo):
        return [f"retry after {detail.retry_delay.ToTimedelta().total_seconds():g}s"]
    return []
