"""The HTTP side of the service: stored images behind signed URLs, and health probes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from visionstudio.server.auth import API_KEY_HEADER, ApiKeys
from visionstudio.server.errors import NotFound, ServiceError, Unauthenticated
from visionstudio.server.status import http_status
from visionstudio.server.store import BlobStore, JobStore
from visionstudio.server.urls import IMAGE_ROUTE, UrlSigner

_NAME = re.compile(r"^([A-Za-z0-9_-]{22})\.(png|jpeg|webp)$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(error: ServiceError) -> web.Response:
    body = {"success": False, "message": error.message, "error": {"reason": error.reason}}
    return web.json_response(body, status=http_status(error))


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as error:
        return _error(error)


class HttpApp:
    def __init__(self, *, keys: ApiKeys, signer: UrlSigner, blobs: BlobStore, jobs: JobStore):
        self._keys = keys
        self._signer = signer
        self._blobs = blobs
        self._jobs = jobs
        self.ready = False

    def build(self) -> web.Application:
        app = web.Application(middlewares=[_errors])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get(IMAGE_ROUTE + "/{name}", self._image)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        status = 200 if self.ready else 503
        return web.json_response({"ready": self.ready}, status=status)

    async def _image(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        query = request.query
        # A valid signature is the credential a browser brings; API callers may send their key.
        signed = self._signer.verify(name, query.get("expires", ""), query.get("sig", ""))
        if not signed:
            if API_KEY_HEADER not in request.headers and "sig" in query:
                raise Unauthenticated("the image URL's signature is invalid or expired")
            self._keys.authenticate(request.headers.get(API_KEY_HEADER))
        match = _NAME.match(name)
        record = await self._jobs.get_image(match.group(1)) if match else None
        data = await self._blobs.get(record.blob_key) if record else None
        if record is None or data is None:
            raise NotFound("no such image")
        return web.Response(
            body=data,
            content_type=record.mime_type,
            headers={"Cache-Control": "private, max-age=86400, immutable"},
        )
