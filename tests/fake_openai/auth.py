"""The Bearer key check, with the real API's 401 messages."""

from __future__ import annotations

from aiohttp import web

from tests.fake_openai.errors import ApiError


def check_api_key(request: web.Request, api_key: str) -> None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        msg = "You didn't provide an API key. Use an Authorization header: 'Bearer YOUR_KEY'."
        raise ApiError(401, msg, code="invalid_api_key")
    if key != api_key:
        shown = key if len(key) <= 8 else f"{key[:3]}{'*' * 8}{key[-4:]}"
        msg = f"Incorrect API key provided: {shown}. You can find your API key at "
        msg += "https://platform.openai.com/account/api-keys."
        raise ApiError(401, msg, code="invalid_api_key")
