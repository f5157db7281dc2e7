"""With a certificate configured, gRPC and HTTP speak TLS only."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc
from visionstudio.server.assembly import RunningService, start

from tests.fake_openai import FakeOpenAI
from tests.support.harness import API_KEY, AUTH, collect, images_of
from tests.support.loopback import loopback_settings

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_service(
    upstream: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    certificate: tuple[Path, Path],
) -> AsyncIterator[tuple[RunningService, bytes]]:
    cert, key = certificate
    settings = loopback_settings(
        upstream.base_url, tmp_path / "data", monkeypatch, tls_cert_file=cert, tls_key_file=key
    )
    service = await start(settings, [API_KEY])
    try:
        yield service, cert.read_bytes()
    finally:
        await service.stop(0)


async def test_grpc_and_http_serve_tls(tls_service: tuple[RunningService, bytes]) -> None:
    service, cert = tls_service
    credentials = grpc.ssl_channel_credentials(root_certificates=cert)
    async with grpc.aio.secure_channel(f"localhost:{service.grpc_port}", credentials) as channel:
        events = await collect(
            pb_grpc.ImageServiceStub(channel).GenerateImage(
                pb.GenerateImageRequest(prompt="secure"), metadata=AUTH
            )
        )
    (image,) = images_of(events)
    assert image.url.startswith("https://localhost:")
    context = ssl.create_default_context(cadata=cert.decode())
    async with aiohttp.ClientSession() as http, http.get(image.url, ssl=context) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
    # Plaintext is refused on both ports.
    async with grpc.aio.insecure_channel(f"localhost:{service.grpc_port}") as plain:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(
                pb_grpc.ImageServiceStub(plain).GenerateImage(
                    pb.GenerateImageRequest(prompt="x"), metadata=AUTH, timeout=5
                )
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://localhost:{service.http_port}/healthz") as resp:
                await resp.read()
