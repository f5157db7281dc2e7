"""The aiohttp server that ties the pieces together: routes, counters, start and stop."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from PIL import Image

from tests.fake_openai.answers import images_body, stream_answer
from tests.fake_openai.auth import check_api_key
from tests.fake_openai.bodies import MAX_JSON_BYTES, RecordedRequest, Upload, read_form, read_json
from tests.fake_openai.config import FakeOpenAIConfig
from tests.fake_openai.edit_inputs import decode_edit_inputs
from tests.fake_openai.errors import ApiError
from tests.fake_openai.faults import Dropped, close_without_answer, injected_failure, next_latency
from tests.fake_openai.job import Job, parse_job
from tests.fake_openai.models import closest_standard, model_object
from tests.fake_openai.params import Params
from tests.fake_openai.ratelimit import RateLimits
from tests.fake_openai.render import Renderer

# GET: the fake's counters as JSON (see FakeOpenAI.stats); outside /v1, as no OpenAI route is.
STATS_PATH = "/_fake/stats"
_IMAGE_ROUTES = {"/v1/images/generations": "generations", "/v1/images/edits": "edits"}


class FakeOpenAI:
    """The server. ``await start()`` / ``await stop()``, or ``async with FakeOpenAI() as fake``."""

    def __init__(
        self, config: FakeOpenAIConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or FakeOpenAIConfig()
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        # Requests whose client hung up before the answer was complete.
        self.disconnects = 0
        # Models asked for with GET /v1/models/{model} (kept apart from `requests`, which are
        # the calls the service makes for its callers).
        self.model_lookups: list[str] = []
        # Images answered (each final image, streamed or not).
        self.served_images = 0
        self._limits = RateLimits(clock)  # tests may pass a fake clock
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("FakeOpenAI is already started")
        app = web.Application(client_max_size=MAX_JSON_BYTES)
        app.router.add_get(STATS_PATH, self._stats)
        app.router.add_get("/v1/models/{model}", self._model)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._on_prepare)
        # A short shutdown timeout: stopping must not wait for idle keep-alive connections.
        # handler_cancellation: a client hanging up cancels its handler, as a real server would.
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("FakeOpenAI is not started")
        host = "127.0.0.1" if self._host in ("", "0.0.0.0", "::") else self._host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._port}/v1"

    @property
    def rate_limited(self) -> int:
        """Image calls refused by the rate limits."""
        return self._limits.refused

    def stats(self) -> dict[str, int]:
        """The counters, also served as JSON at STATS_PATH (for a fake in another process)."""
        return {
            "served_images": self.served_images,
            "rate_limited": self.rate_limited,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "disconnects": self.disconnects,
        }

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _model(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        self.model_lookups.append(model)
        try:
            check_api_key(request, self.config.api_key)
            return web.json_response(model_object(model))
        except ApiError as err:
            return web.json_response(err.body, status=err.status, headers=err.headers)

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        # The SDK surfaces this header as `request_id` on results and errors.
        response.headers.setdefault("x-request-id", f"req_{secrets.token_hex(16)}")
        if request.path in _IMAGE_ROUTES:
            response.headers.update(self._limits.headers(self.config))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._dispatch(request)
        except ApiError as err:
            return web.json_response(err.body, status=err.status, headers=err.headers)
        except Dropped:
            return close_without_answer(request)
        except asyncio.CancelledError:
            self.disconnects += 1
            raise
        finally:
            self.in_flight -= 1

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        endpoint = _IMAGE_ROUTES.get(request.path) if request.method == "POST" else None
        record = RecordedRequest(endpoint or request.path, {}, {}, dict(request.headers))
        if self.config.record_requests:
            self.requests.append(record)
        # Read the body before answering anything, so even refused requests are recorded in full.
        body_error: ApiError | None = None
        raw: dict[str, Any] = {}
        uploads: dict[str, list[Upload]] = {}
        try:
            if endpoint == "edits":
                raw, uploads = await read_form(request, record)
            elif endpoint == "generations":
                raw = await read_json(request, record)
        except ApiError as err:
            body_error = err
        if (failure := await injected_failure(self.config, endpoint is not None)) is not None:
            return failure
        check_api_key(request, self.config.api_key)
        if endpoint is None:
            raise ApiError(404, f"Invalid URL ({request.method} {request.path})")
        if body_error is not None:
            raise body_error
        job = parse_job(endpoint, Params(raw, form=endpoint == "edits"))
        self._limits.admit(self.config, job.model, job.n)
        return await self._answer(request, job, uploads)

    async def _answer(
        self, request: web.Request, job: Job, uploads: dict[str, list[Upload]]
    ) -> web.StreamResponse:
        source: Image.Image | None = None
        mask: Image.Image | None = None
        if job.endpoint == "edits":
            first, mask = await asyncio.to_thread(decode_edit_inputs, job, uploads)
            source, size = first, job.size or closest_standard(*first.size)
        else:
            size = job.size or (1024, 1024)
        renderer = Renderer(
            prompt=job.prompt,
            size=size,
            transparent=job.background == "transparent",
            fmt=job.output_format,
            compression=job.compression,
            grain=self.config.photographic,
            source=source,
            mask=mask,
            every_pixel=self.config.edit_changes_every_pixel,
        )
        latency = next_latency(self.config)
        if job.stream:
            final = await asyncio.to_thread(renderer.image, 0)
            return await stream_answer(request, job, size, final, latency, self._served_one)
        await asyncio.sleep(latency)
        # One thread per image: Pillow releases the GIL while resizing and encoding.
        encoded = await asyncio.gather(
            *(asyncio.to_thread(renderer.encoded, index) for index in range(job.n))
        )
        self.served_images += job.n
        return web.json_response(images_body(job, size, encoded))

    def _served_one(self) -> None:
        self.served_images += 1
