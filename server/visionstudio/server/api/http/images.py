"""Stored images over HTTP: a signed URL is the credential a browser brings; API callers may
send their key instead and read only the images of their own jobs."""

from __future__ import annotations

import re

from aiohttp import web
from visionstudio.server.api.auth import API_KEY_HEADER, MISSING_KEY
from visionstudio.server.api.http.middleware import caller_of
from visionstudio.server.errors import NotFound, Unauthenticated
from visionstudio.server.jobs.links import IMAGE_ROUTE, UrlSigner
from visionstudio.server.store import BlobStore, JobStore

IMAGE_PATH = IMAGE_ROUTE + "/{name}"
_NAME = re.compile(r"^([A-Za-z0-9_-]{22})\.(png|jpeg|webp)$")


class Images:
    def __init__(self, *, signer: UrlSigner, blobs: BlobStore, jobs: JobStore) -> None:
        self._signer = signer
        self._blobs = blobs
        self._jobs = jobs

    async def get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        query = request.query
        signed = self._signer.verify(name, query.get("expires", ""), query.get("sig", ""))
        if not signed and API_KEY_HEADER not in request.headers:
            if "sig" in query:
                raise Unauthenticated("the image URL's signature is invalid or expired")
            raise Unauthenticated(MISSING_KEY)
        match = _NAME.match(name)
        record = await self._jobs.get_image(match.group(1)) if match else None
        # With a key (and no signature) a caller reads only the images of its own jobs.
        if record is not None and not signed and record.caller != caller_of(request):
            record = None
        data = await self._blobs.get(record.blob_key) if record else None
        if record is None or data is None:
            raise NotFound("no such image")
        return web.Response(
            body=data,
            content_type=record.mime_type,
            headers={"Cache-Control": "private, max-age=86400, immutable"},
        )
