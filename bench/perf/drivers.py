"""The three ways a perf run calls for an image: gRPC and HTTP/JSON through the server, and the
openai SDK straight to the upstream. Each call returns seconds or raises CallFailed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, cast

import aiohttp
import grpc
import httpx2
import openai
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from visionstudio.client import ASPECT_RATIOS, MAX_MESSAGE_BYTES
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from bench.perf.config import PROMPT, Config
from bench.stack import CLIENT_KEY, MODEL, UPSTREAM_KEY

HTTP_PATH = "/api/v1/openai/image/generation/generate-image"
STREAMS_PER_CHANNEL = 250  # HTTP/2 streams per client connection


class CallFailed(Exception):
    """A call that did not deliver; `kind` says how (a status code name, an upstream 429, ...)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _failure_kind(err: grpc.aio.AioRpcError) -> str:
    """The status code, or "upstream 429" when the provider's rate limit reached the caller."""
    # Details that contradict the call's own code (ValueError) say nothing more than the code.
    with contextlib.suppress(ValueError):
        status = rpc_status.from_call(cast(grpc.Call, err))
        for detail in status.details if status is not None else ():
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.metadata.get("upstream_status") == "429":
                return "upstream 429"
    return err.code().name


def request(config: Config, n: int = 1, include_data: bool = False) -> pb.GenerateImageRequest:
    return pb.GenerateImageRequest(
        prompt=PROMPT,
        number_of_images=n,
        aspect_ratio=ASPECT_RATIOS[config.ratio],
        include_data=include_data,
    )


class GrpcDriver:
    """GenerateImage calls spread over channels of STREAMS_PER_CHANNEL streams each.

    Not visionstudio.client.AsyncImageClient: its channels to one target share one connection,
    and thousands of streams need several."""

    def __init__(self, port: int, streams: int) -> None:
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # A connection of its own per channel (grpc would otherwise share one per target).
            ("grpc.use_local_subchannel_pool", 1),
        ]
        self._channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options)
            for _ in range(max(1, -(-streams // STREAMS_PER_CHANNEL)))
        ]
        self._stubs = [pb_grpc.ImageServiceStub(c) for c in self._channels]
        self._next = 0

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    def _stub(self) -> pb_grpc.ImageServiceAsyncStub:
        self._next += 1
        return self._stubs[self._next % len(self._stubs)]

    async def call(
        self,
        request: pb.GenerateImageRequest | pb.EditImageRequest,
        *,
        key: str = CLIENT_KEY,
        timeout_s: float = 120.0,
        accepted: Callable[[], None] | None = None,
    ) -> list[float]:
        """Seconds from the call's start to each image; raises CallFailed."""
        started = time.perf_counter()
        arrivals: list[float] = []
        metadata = (("x-api-key", key),)
        stub = self._stub()
        call = (
            stub.EditImage(request, metadata=metadata, timeout=timeout_s)
            if isinstance(request, pb.EditImageRequest)
            else stub.GenerateImage(request, metadata=metadata, timeout=timeout_s)
        )
        try:
            async for event in call:
                kind = event.WhichOneof("event")
                if kind == "image":
                    arrivals.append(time.perf_counter() - started)
                elif kind == "accepted" and accepted is not None:
                    accepted()
        except grpc.aio.AioRpcError as err:
            raise CallFailed(_failure_kind(err)) from None
        if len(arrivals) != max(1, request.number_of_images):
            raise CallFailed(f"{len(arrivals)} of {request.number_of_images} images")
        return arrivals


class DirectDriver:
    """The same upstream through the openai SDK, as the server calls it (n=1, same size)."""

    def __init__(self, base_url: str, config: Config, connections: int) -> None:
        http = openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(
                max_connections=max(1000, connections),
                max_keepalive_connections=max(100, connections),
            )
        )
        self._sdk = openai.AsyncOpenAI(
            api_key=UPSTREAM_KEY, base_url=base_url, max_retries=0, http_client=http
        )
        w, h = config.size
        self._size = f"{w}x{h}"

    async def close(self) -> None:
        await self._sdk.close()

    async def call(self) -> float:
        started = time.perf_counter()
        try:
            result = await self._sdk.images.generate(
                model=MODEL,
                prompt=PROMPT,
                n=1,
                size=self._size,
                quality="auto",
                output_format="png",
            )
        except openai.APIError as exc:
            raise CallFailed(type(exc).__name__) from None
        if not result.data or not result.data[0].b64_json:
            raise CallFailed("no image")
        return time.perf_counter() - started


class HttpDriver:
    """The reference HTTP/JSON route: one POST per call, answered once the image is stored."""

    def __init__(self, port: int, config: Config, connections: int) -> None:
        self._url = f"http://127.0.0.1:{port}{HTTP_PATH}"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections), headers={"X-API-Key": CLIENT_KEY}
        )
        self._body = {"prompt": PROMPT, "number_of_images": 1, "aspect_ratio": config.ratio}

    async def close(self) -> None:
        await self._session.close()

    async def call(self) -> float:
        started = time.perf_counter()
        try:
            async with self._session.post(self._url, json=self._body) as resp:
                body = await resp.json()
        except aiohttp.ClientError as exc:
            raise CallFailed(type(exc).__name__) from None
        if resp.status != 200 or not body.get("success") or len(body["data"]["images"]) != 1:
            raise CallFailed(f"HTTP {resp.status}")
        return time.perf_counter() - started
