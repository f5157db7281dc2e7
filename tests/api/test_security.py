"""API keys and signed image URLs."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.api.auth import ApiKeys, key_id
from visionstudio.server.errors import Unauthenticated
from visionstudio.server.jobs.links import UrlSigner, new_id
from visionstudio.server.settings import Settings, client_keys

from tests.support.harness import API_KEY, AUTH, Harness, collect, images_of


def test_keys_are_checked_and_identified_without_revealing_them() -> None:
    keys = ApiKeys(["alpha", "beta"])
    assert keys.authenticate("beta") == key_id("beta") != "beta"
    for bad in (None, "", "gamma", "alph"):
        with pytest.raises(Unauthenticated):
            keys.authenticate(bad)


def test_signed_urls_verify_and_expire() -> None:
    signer = UrlSigner(b"k" * 32, "http://host:8527", ttl_s=60)
    name = f"{new_id()}.png"
    url = signer.image_url(name)
    query = dict(part.split("=") for part in url.split("?")[1].split("&"))
    assert signer.verify(name, query["expires"], query["sig"])
    assert not signer.verify("other.png", query["expires"], query["sig"])
    assert not signer.verify(name, str(int(query["expires"]) + 1), query["sig"])
    assert not signer.verify(name, "1", signer._sign(name, 1))  # expired
    assert not UrlSigner(b"x" * 32, "", 60).verify(name, query["expires"], query["sig"])


def test_ids_carry_128_bits() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 22 for i in ids)


def test_an_id_can_be_given_to_the_command_line() -> None:
    """One token in 64 starts with "-"; 10,000 ids without one rule that out (p < 1e-68)."""
    ids = [new_id() for _ in range(10_000)]
    assert not any(i.startswith("-") for i in ids)


def test_keys_come_from_the_environment_and_a_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# operators\nfile-key-1\n\n  file-key-2  \n")
    settings = Settings(api_keys="env-key", api_keys_file=keys_file)  # type: ignore[arg-type]
    assert client_keys(settings) == ["env-key", "file-key-1", "file-key-2"]


async def test_a_key_reads_only_its_own_images_but_signed_urls_work_for_anyone(
    harness: Harness,
) -> None:
    events = await collect(
        harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="mine"), metadata=AUTH)
    )
    (image,) = images_of(events)
    bare = image.url.split("?")[0]
    async with aiohttp.ClientSession() as http:
        async with http.get(bare, headers={"X-API-Key": "test-key-2"}) as resp:
            assert resp.status == 404
        async with http.get(bare, headers={"X-API-Key": API_KEY}) as resp:
            assert resp.status == 200
        async with http.get(image.url) as resp:
            assert resp.status == 200


async def test_metrics_need_a_key(harness: Harness) -> None:
    url = f"http://127.0.0.1:{harness.service.http_port}/metrics"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status == 401
        async with http.get(url, headers={"X-API-Key": API_KEY}) as resp:
            assert resp.status == 200
            assert "visionstudio_upstream_in_flight" in await resp.text()
