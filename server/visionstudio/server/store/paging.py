"""Keyset pagination of a caller's jobs: opaque, stable page tokens on (created_at, id)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence

from visionstudio.server.errors import InvalidArgument
from visionstudio.server.store.records import JobPage, JobRecord

MAX_PAGE_SIZE = 1000


def encode_page_token(created_at: float, job_id: str) -> str:
    # JSON keeps the float exact (shortest repr round-trips), so the keyset compares equal.
    raw = json.dumps([created_at, job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[float, str]:
    """The keyset a token names; INVALID_ARGUMENT naming `page_token` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, job_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, RecursionError) as exc:
        raise _bad_token() from exc
    if (
        isinstance(created_at, bool)
        or not isinstance(created_at, int | float)
        or not math.isfinite(created_at)
        or not isinstance(job_id, str)
    ):
        raise _bad_token()
    return float(created_at), job_id


def _bad_token() -> InvalidArgument:
    return InvalidArgument("page_token", "is not a token from a previous answer's next_page_token")


def check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be within 1..{MAX_PAGE_SIZE}")


def page_of(rows: Sequence[JobRecord], page_size: int) -> JobPage:
    """`rows` holds up to page_size + 1 jobs: the extra one only says another page exists."""
    jobs = list(rows[:page_size])
    more = len(rows) > page_size
    token = encode_page_token(jobs[-1].created_at, jobs[-1].id) if more else None
    return JobPage(jobs=jobs, next_page_token=token)
