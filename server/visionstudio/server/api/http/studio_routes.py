"""The web studio at `/studio/`: static pages shipped in the package, served with a strict
Content-Security-Policy. The pages carry no key and no back door: the browser asks the user for
an API key and calls the same public JSON API as any HTTP caller."""

from __future__ import annotations

import mimetypes
import re
from importlib import resources

from aiohttp import web
from visionstudio.server.errors import NotFound

STUDIO_PATH = "/studio/"
ASSET_PATH = STUDIO_PATH + "{name}"
# Served without a key (the pages hold nothing secret); every API call they make needs one.
STUDIO_ROUTES = frozenset({"/studio", STUDIO_PATH, ASSET_PATH})

_ASSET = re.compile(r"^[a-z0-9-]+\.(html|js|css|svg)$")
# Only this origin: no inline script or style, no third-party host, no framing. Images are the
# service's own (same-origin URLs, or blob: copies the page fetched with the key).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Assets change with each release; revalidating is cheap on loopback and on a LAN.
    "Cache-Control": "no-cache",
}


class StudioAssets:
    """Reads the assets from package data once, at start-up."""

    def __init__(self) -> None:
        folder = resources.files("visionstudio.server.api.http") / "studio"
        self._assets = {
            item.name: item.read_bytes()
            for item in folder.iterdir()
            if item.is_file() and _ASSET.match(item.name)
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/studio", self._redirect)
        app.router.add_get(STUDIO_PATH, self._index)
        app.router.add_get(ASSET_PATH, self._asset)

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(STUDIO_PATH)

    async def _index(self, request: web.Request) -> web.Response:
        return self._serve("index.html")

    async def _asset(self, request: web.Request) -> web.Response:
        return self._serve(request.match_info["name"])

    def _serve(self, name: str) -> web.Response:
        data = self._assets.get(name)
        if data is None:
            raise NotFound("no such studio file")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return web.Response(body=data, content_type=content_type, headers=_HEADERS)
