"""Builds and starts the HTTP server: the reference API's JSON routes (images, jobs, batches),
stored images behind signed URLs, health probes and metrics."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

from aiohttp import web
from visionstudio.server.api.auth import ApiKeys
from visionstudio.server.api.byte_budget import ByteBudget
from visionstudio.server.api.http import middleware
from visionstudio.server.api.http.batch_routes import BatchRoutes
from visionstudio.server.api.http.connections import ConnectionGuard, GuardedSite
from visionstudio.server.api.http.draining import refusing_when
from visionstudio.server.api.http.images import IMAGE_PATH, Images
from visionstudio.server.api.http.job_routes import JobRoutes
from visionstudio.server.api.http.models import max_body_bytes
from visionstudio.server.api.http.routes import JsonApi
from visionstudio.server.api.http.studio_routes import STUDIO_ROUTES, StudioAssets
from visionstudio.server.jobs.batches import Batches
from visionstudio.server.jobs.links import UrlSigner
from visionstudio.server.jobs.queries import JobQueries
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
        queries: JobQueries,
        batches: Batches,
        max_call_s: float,
        max_input_bytes: int,
        metrics: Metrics,
        readiness: Callable[[], bool],
        request_bytes: ByteBudget,
        max_connections: int,
        body_timeout_s: float,
        draining: Callable[[], bool],
    ):
        self._keys = keys
        self._metrics = metrics
        self._readiness = readiness
        self._draining = draining
        self._images = Images(signer=signer, blobs=blobs, jobs=jobs)
        self._max_body = max_body_bytes(max_input_bytes)
        self._api = JsonApi(studio=studio, max_call_s=max_call_s)
        self._jobs = JobRoutes(queries=queries, studio=studio, max_call_s=max_call_s)
        self._batches = BatchRoutes(batches=batches)
        self._request_bytes = request_bytes
        self._body_timeout_s = body_timeout_s
        self.guard = ConnectionGuard(max_connections)

    def build(self) -> web.Application:
        app = web.Application(
            middlewares=[
                middleware.request_ids,
                middleware.observed(self._metrics),
                middleware.errors,
                middleware.authenticated(
                    self._keys, key_optional=frozenset({IMAGE_PATH, *STUDIO_ROUTES})
                ),
                # While draining, new work is refused before its body is received.
                refusing_when(self._draining),
                middleware.bounded_bodies(
                    self.guard,
                    self._request_bytes,
                    body_timeout_s=self._body_timeout_s,
                    max_body=self._max_body,
                ),
            ],
            client_max_size=self._max_body,
        )
        app.on_response_prepare.append(middleware.echo_request_id)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get(IMAGE_PATH, self._images.get)
        self._api.add_routes(app)
        self._jobs.add_routes(app)
        self._batches.add_routes(app)
        StudioAssets().add_routes(app)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = self._readiness()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(), content_type="text/plain")


async def start_http(
    app: HttpApp, sock: socket.socket, ssl_context: ssl.SSLContext | None, *, idle_timeout_s: float
) -> web.AppRunner:
    # handler_cancellation: an HTTP caller hanging up cancels its job, as a cancelled RPC does.
    # keepalive_timeout: aiohttp closes a connection that has no complete request this long,
    # from its first byte on, so it bounds both idle connections and half-sent headers.
    runner = web.AppRunner(
        app.build(),
        access_log=None,
        handler_cancellation=True,
        keepalive_timeout=idle_timeout_s,
    )
    await runner.setup()
    await GuardedSite(runner, sock, app.guard, ssl_context=ssl_context).start()
    return runner
