"""Image URLs that load in a browser: unguessable ids, signed with an expiry."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

IMAGE_ROUTE = "/v1/images"


def new_id() -> str:
    """128 random bits, URL-safe, and never led by "-": a command line would take such an id
    for an option (`visionstudio cancel -x…` said JOB_ID was missing, for 1 id in 64)."""
    while (token := secrets.token_urlsafe(16)).startswith("-"):
        continue
    return token


def load_or_create_key(path: Path) -> bytes:
    """A signing key kept in the data directory, so URLs survive restarts."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key


class UrlSigner:
    def __init__(self, key: bytes, base_url: str, ttl_s: int) -> None:
        self._key = key
        self.base_url = base_url.rstrip("/")
        self._ttl = ttl_s

    def _sign(self, name: str, expires: int) -> str:
        msg = f"{name}\n{expires}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def image_url(self, name: str) -> str:
        """`name` is the stored file name, `<image id>.<ext>`."""
        expires = int(time.time()) + self._ttl
        query = urlencode({"expires": expires, "sig": self._sign(name, expires)})
        return f"{self.base_url}{IMAGE_ROUTE}/{name}?{query}"

    def verify(self, name: str, expires: str, sig: str) -> bool:
        try:
            when = int(expires)
        except ValueError:
            return False
        if when < time.time():
            return False
        return hmac.compare_digest(self._sign(name, when), sig)
