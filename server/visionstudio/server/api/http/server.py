"""Builds and starts the HTTP server: the reference API's JSON routes, stored images behind
signed URLs, health probes and metrics."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

from aiohttp import web
from visionstudio.server.api.auth import ApiKeys
from visionstudio.server.api.http import middleware
from visionstudio.server.api.http.draining import refusing_when
from visionstudio.server.api.http.images import IMAGE_PATH, Images
from visionstudio.server.api.http.job_routes import JobRoutes
from visionstudio.server.api.http.models import max_body_bytes
from visionstudio.server.api.http.routes import JsonApi
from visionstudio.server.jobs.links import UrlSigner
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.store import BlobStore, JobStore


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
        draining: Callable[[], bool] = lambda: False,
    ):
        self._keys = keys
        self._metrics = metrics
        self._readiness = readiness
        self._draining = draining
        self._images = Images(signer=signer, blobs=blobs, jobs=jobs)
        self._max_body = max_body_bytes(max_input_bytes)
        self._api = JsonApi(studio=studio, max_call_s=max_call_s, max_body_bytes=self._max_body)
        self._job_routes = JobRoutes(studio)

    def build(self) -> web.Application:
        app = web.Application(
            middlewares=[
                middleware.request_ids,
                middleware.observed(self._metrics),
                middleware.errors,
                middleware.authenticated(self._keys, key_optional=frozenset({IMAGE_PATH})),
                refusing_when(self._draining),
            ],
            client_max_size=self._max_body,
        )
        app.on_response_prepare.append(middleware.echo_request_id)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get(IMAGE_PATH, self._images.get)
        self._api.add_routes(app)
        self._job_routes.add_routes(app)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = self._readiness()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(), content_type="text/plain")


async def start_http(
    app: HttpApp, sock: socket.socket, ssl_context: ssl.SSLContext | None
) -> web.AppRunner:
    # handler_cancellation: an HTTP caller hanging up cancels its job, as a cancelled RPC does.
    runner = web.AppRunner(app.build(), access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=ssl_context).start()
    return runner
