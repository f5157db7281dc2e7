"""Failures the loopback upstream is told to answer with, shaped as OpenAI's error bodies."""

from __future__ import annotations

from typing import Any

from tests.fake_openai import Failure

ATTEMPTS = 3  # the harness allows two retries of transient upstream failures


def openai_error(
    code: str | None, message: str, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


MODERATION = Failure(400, openai_error("moderation_blocked", "Rejected by the safety system."))
SERVER_ERROR = Failure(500, openai_error(None, "boom", "server_error"))
