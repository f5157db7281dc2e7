"""The HTTP side of the service: the reference API's JSON routes, stored images behind signed
URLs, and health probes."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from aiohttp import web
from visionstudio.server.api.auth import API_KEY_HEADER, ApiKeys
from visionstudio.server.api.http import json_api
from visionstudio.server.api.http.routes import Handler, JsonApi, error_response
from visionstudio.server.errors import Internal, NotFound, ServiceError, Unauthenticated
from visionstudio.server.jobs.links import IMAGE_ROUTE, UrlSigner
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.observability import logs
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.store import BlobStore, JobStore

log = logging.getLogger(__name__)

_NAME = re.compile(r"^([A-Za-z0-9_-]{22})\.(png|jpeg|webp)$")


@web.middleware
async def _request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The caller's X-Request-Id (or a new one) goes into every log line of the request."""
    logs.request_id.set(logs.accept_request_id(request.headers.get(logs.REQUEST_ID_HEADER)))
    return await handler(request)


async def _echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    # Runs as headers go out, also for event streams prepared inside the handler.
    rid = logs.request_id.get()
    if rid is not None:
        response.headers[logs.REQUEST_ID_HEADER] = rid


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as error:
        return error_response(error)
    except web.HTTPException:
        raise  # aiohttp's own answers (unknown route, wrong method)
    except Exception:
        # Never a traceback to the caller: the details go to the log only.
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(Internal("internal error"))


class HttpApp:
    def __init__(
        self,
        *,
        keys: ApiKeys,
        signer: UrlSigner,
        blobs: BlobStore,
        jobs: JobStore,
        studio: ImageStudio,
        max_call_s: float,
        max_input_bytes: int,
        metrics: Metrics,
        readiness: Callable[[], bool],
    ):
        self._keys = keys
        self._metrics = metrics
        self._readiness = readiness
        self._signer = signer
        self._blobs = blobs
        self._jobs = jobs
        self._max_body = json_api.max_body_bytes(max_input_bytes)
        self._api = JsonApi(
            studio=studio, keys=keys, max_call_s=max_call_s, max_body_bytes=self._max_body
        )

    def build(self) -> web.Application:
        app = web.Application(middlewares=[_request_ids, _errors], client_max_size=self._max_body)
        app.on_response_prepare.append(_echo_request_id)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get(IMAGE_ROUTE + "/{name}", self._image)
        self._api.add_routes(app)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = self._readiness()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        self._keys.authenticate(request.headers.get(API_KEY_HEADER))
        return web.Response(body=self._metrics.render(), content_type="text/plain")

    async def _image(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        query = request.query
        # A valid signature is the credential a browser brings; API callers may send their key.
        signed = self._signer.verify(name, query.get("expires", ""), query.get("sig", ""))
        if not signed:
            if API_KEY_HEADER not in request.headers and "sig" in query:
                raise Unauthenticated("the image URL's signature is invalid or expired")
            caller = self._keys.authenticate(request.headers.get(API_KEY_HEADER))
        match = _NAME.match(name)
        record = await self._jobs.get_image(match.group(1)) if match else None
        # With a key (and no signature) a caller reads only the images of its own jobs.
        if record is not None and not signed and record.caller != caller:
            record = None
        data = await self._blobs.get(record.blob_key) if record else None
        if record is None or data is None:
            raise NotFound("no such image")
        return web.Response(
            body=data,
            content_type=record.mime_type,
            headers={"Cache-Control": "private, max-age=86400, immutable"},
        )
