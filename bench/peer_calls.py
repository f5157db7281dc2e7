"""The paths `python -m bench.peer` compares, each ending with the caller holding the image's
bytes: the openai SDK straight to the upstream or through LiteLLM's proxy (the same API), and
visionstudio over gRPC (`include_data`) and HTTP/JSON (`include_data`). Every call returns the
seconds from its start to each image and raises CallFailed when it did not deliver."""

from __future__ import annotations

import time
from typing import Protocol

import aiohttp
import httpx2
import openai
from visionstudio.client import ASPECT_RATIOS
from visionstudio.image.v1 import image_service_pb2 as pb

from bench.perf.drivers import HTTP_PATH, CallFailed, GrpcDriver
from bench.stack import CLIENT_KEY, MODEL, UPSTREAM_KEY, Stack

PROMPT = "a lighthouse at dawn"
EDIT_PROMPT = "the same lighthouse at night"
EDIT_SIZE = "1024x1024"  # what the service asks for an edit at 1:1
EDIT_RATIO = "1:1"


class Route(Protocol):
    async def generate(self, n: int = 1) -> list[float]: ...

    async def close(self) -> None: ...


class EditRoute(Route, Protocol):
    async def edit(self, photo: bytes) -> list[float]: ...


class OpenAIPath:
    """The openai SDK at an OpenAI-compatible base URL: the upstream itself, or the proxy."""

    def __init__(self, base_url: str, size: tuple[int, int], connections: int) -> None:
        http = openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        )
        self._sdk = openai.AsyncOpenAI(
            api_key=UPSTREAM_KEY, base_url=base_url, max_retries=0, http_client=http, timeout=300
        )
        self._size = f"{size[0]}x{size[1]}"

    async def close(self) -> None:
        await self._sdk.close()

    async def generate(self, n: int = 1) -> list[float]:
        started = time.perf_counter()
        try:
            result = await self._sdk.images.generate(
                model=MODEL, prompt=PROMPT, n=n, size=self._size, output_format="png"
            )
        except openai.APIError as exc:
            raise CallFailed(type(exc).__name__) from None
        return _all_arrived(result, n, time.perf_counter() - started)

    async def edit(self, photo: bytes) -> list[float]:
        started = time.perf_counter()
        try:
            result = await self._sdk.images.edit(
                model=MODEL, image=("image.png", photo, "image/png"), prompt=EDIT_PROMPT,
                size=EDIT_SIZE,
            )  # fmt: skip
        except openai.APIError as exc:
            raise CallFailed(type(exc).__name__) from None
        return _all_arrived(result, 1, time.perf_counter() - started)


def _all_arrived(result: openai.types.ImagesResponse, n: int, seconds: float) -> list[float]:
    """One answer carries every image, so each arrived when the answer did."""
    if len([d for d in result.data or () if d.b64_json]) != n:
        raise CallFailed("missing images")
    return [seconds] * n


class GrpcPath:
    """visionstudio's gRPC API, each image event carrying its bytes."""

    def __init__(self, stack: Stack, ratio: str, connections: int) -> None:
        self._driver = GrpcDriver(stack.grpc_port, connections)
        self._ratio = ASPECT_RATIOS[ratio]

    async def close(self) -> None:
        await self._driver.close()

    async def generate(self, n: int = 1) -> list[float]:
        request = pb.GenerateImageRequest(
            prompt=PROMPT, number_of_images=n, aspect_ratio=self._ratio, include_data=True
        )
        return await self._driver.call(request, timeout_s=300)

    async def edit(self, photo: bytes) -> list[float]:
        request = pb.EditImageRequest(
            prompt=EDIT_PROMPT,
            image_file=photo,
            aspect_ratio=ASPECT_RATIOS[EDIT_RATIO],
            include_data=True,
        )
        return await self._driver.call(request, timeout_s=300)


class HttpPath:
    """visionstudio's HTTP/JSON route, answered once the images are stored, bytes included."""

    def __init__(self, stack: Stack, ratio: str, connections: int) -> None:
        self._url = f"http://127.0.0.1:{stack.http_port}{HTTP_PATH}"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            headers={"X-API-Key": CLIENT_KEY},
            timeout=aiohttp.ClientTimeout(total=300),
        )
        self._ratio = ratio

    async def close(self) -> None:
        await self._session.close()

    async def generate(self, n: int = 1) -> list[float]:
        body = {
            "prompt": PROMPT,
            "number_of_images": n,
            "aspect_ratio": self._ratio,
            "include_data": True,
        }
        started = time.perf_counter()
        try:
            async with self._session.post(self._url, json=body) as resp:
                answer = await resp.json()
        except aiohttp.ClientError as exc:
            raise CallFailed(type(exc).__name__) from None
        images = answer.get("data", {}).get("images", []) if resp.status == 200 else []
        if len([image for image in images if image.get("data")]) != n:
            raise CallFailed(f"HTTP {resp.status}")
        return [time.perf_counter() - started] * n
