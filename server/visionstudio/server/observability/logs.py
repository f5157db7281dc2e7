"""Structured logs: one JSON object per line, carrying the request id and job id of the call."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

REQUEST_ID_HEADER = "x-request-id"
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def accept_request_id(presented: str | None) -> str:
    """The caller's request id when it is sane, else a fresh one."""
    if presented and _ACCEPTABLE_ID.match(presented):
        return presented
    return uuid.uuid4().hex


# The structured fields a text line keeps, after the message, when a record carries them.
_TEXT_FIELDS = ("method", "code", "ms", "status", "job_id")


class _TextFormatter(logging.Formatter):
    """A readable line that still carries the structured fields (`key=value`), as JSON would."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{k}={getattr(record, k)}" for k in _TEXT_FIELDS if getattr(record, k, None)]
        return f"{line} {' '.join(fields)}" if fields else line


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        return True


def configure(level: str, fmt: str) -> None:
    """`fmt` is "json" (one object per line) or "text" (for a terminal)."""
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            _TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The SDK's HTTP client logs every request at INFO; ours already says what matters.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
