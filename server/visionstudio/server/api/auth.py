"""Client API keys: constant-time checks, and a stable id per key that never reveals it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path

from visionstudio.server.errors import Unauthenticated

API_KEY_HEADER = "x-api-key"
MISSING_KEY = f"missing API key: send it in the {API_KEY_HEADER} header"


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class ApiKeys:
    def __init__(self, keys: Iterable[str]) -> None:
        # Comparing digests keeps the comparison constant-time whatever the key lengths.
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys if k]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def authenticate(self, presented: str | None) -> str:
        """Returns the caller's key id; raises Unauthenticated for a missing or unknown key."""
        if not presented:
            raise Unauthenticated(MISSING_KEY)
        digest = hashlib.sha256(presented.encode()).digest()
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise Unauthenticated("invalid API key")
        return key_id(presented)


def dev_key(path: Path) -> str:
    """A key for local development, created once in the data directory."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "vs-dev-" + secrets.token_urlsafe(24)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
