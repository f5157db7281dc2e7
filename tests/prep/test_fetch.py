"""URL inputs: private addresses are refused, by literal or by name, unless allow-listed."""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import quote

import pytest
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.prep.fetch import CONNECTIONS, AddressPolicy, Fetcher, FetchLimits

from tests.support.harness import ImageHost, png

LIMITS = FetchLimits(max_bytes=100_000, total_timeout_s=5, connect_timeout_s=2, max_redirects=2)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/a.png",
        "http://localhost:{port}/a.png",
        "http://[::1]:{port}/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/a.png",
    ],
)
async def test_private_addresses_are_refused_without_being_fetched(
    image_host: ImageHost, url: str
) -> None:
    image_host.put("a.png", png((8, 8)))
    fetcher = Fetcher(LIMITS, AddressPolicy([]))
    try:
        with pytest.raises(InvalidArgument) as caught:
            await fetcher.fetch(url.format(port=image_host.port), "image_url")
    finally:
        await fetcher.close()
    assert caught.value.reason == "URL_NOT_ALLOWED"
    assert caught.value.violations[0].field == "image_url"


async def test_allow_list_by_range_and_byte_cap(image_host: ImageHost) -> None:
    fetcher = Fetcher(LIMITS, AddressPolicy(["127.0.0.0/8"]))
    try:
        small = png((8, 8))
        assert await fetcher.fetch(image_host.put("s.png", small), "image_url") == small
        big = b"\0" * 200_000
        with pytest.raises(InvalidArgument, match="limit"):
            await fetcher.fetch(image_host.put("big.png", big), "mask_url")
    finally:
        await fetcher.close()


async def test_data_urls_are_decoded() -> None:
    fetcher = Fetcher(LIMITS, AddressPolicy([]))
    data = png((4, 4))
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    assert await fetcher.fetch(url, "image_url") == data
    with pytest.raises(InvalidArgument, match="base64"):
        await fetcher.fetch("data:image/png;base64,@@@", "image_url")


def test_policy_unwraps_ipv4_mapped_addresses() -> None:
    import ipaddress

    policy = AddressPolicy([])
    assert not policy.allows("x", ipaddress.ip_address("::ffff:127.0.0.1"))
    assert policy.allows("x", ipaddress.ip_address("93.184.216.34"))


async def test_a_redirect_to_a_private_address_is_refused(image_host: ImageHost) -> None:
    image_host.put("a.png", png((8, 8)))
    fetcher = Fetcher(LIMITS, AddressPolicy(["127.0.0.2/32"]))
    allowed = f"http://127.0.0.2:{image_host.port}/a.png"
    private = f"http://127.0.0.1:{image_host.port}/a.png"
    try:
        assert await fetcher.fetch(allowed, "image_url") == image_host.files["a.png"][0]
        hop = f"http://127.0.0.2:{image_host.port}/redirect?to={private}"
        with pytest.raises(InvalidArgument) as caught:
            await fetcher.fetch(hop, "image_url")
        assert caught.value.reason == "URL_NOT_ALLOWED"
        by_name = f"http://127.0.0.2:{image_host.port}/redirect?to=http://localhost:1/a.png"
        with pytest.raises(InvalidArgument) as caught:
            await fetcher.fetch(by_name, "image_url")
        assert caught.value.reason == "URL_NOT_ALLOWED"
    finally:
        await fetcher.close()


async def test_too_many_redirects_are_refused(image_host: ImageHost) -> None:
    image_host.put("a.png", png((8, 8)))
    fetcher = Fetcher(LIMITS, AddressPolicy(["127.0.0.0/8"]))
    url = f"http://127.0.0.1:{image_host.port}/a.png"
    for _ in range(LIMITS.max_redirects + 1):
        url = f"http://127.0.0.1:{image_host.port}/redirect?to={quote(url)}"
    try:
        with pytest.raises(InvalidArgument, match="redirects"):
            await fetcher.fetch(url, "image_url")
    finally:
        await fetcher.close()


async def test_one_keys_slow_fetches_leave_room_for_another_keys(image_host: ImageHost) -> None:
    # The attack: one key holds 64 fetches that trickle a byte a second, as many as the
    # connection pool has; before slots per key another key's small image waited for them all.
    slow = image_host.put("slow.png", b"x" * 100)
    image_host.slow.add("slow.png")
    small = png((16, 16))
    fetcher = Fetcher(LIMITS, AddressPolicy(["127.0.0.1"]))
    try:
        hostile = [
            asyncio.ensure_future(fetcher.fetch(slow, "image_url", caller="a"))
            for _ in range(CONNECTIONS)
        ]
        await asyncio.sleep(0)
        url = image_host.put("small.png", small)
        assert await fetcher.fetch(url, "image_url", caller="b") == small
        assert not any(task.done() for task in hostile)  # still trickling: b did not wait
        for task in hostile:
            task.cancel()
        await asyncio.gather(*hostile, return_exceptions=True)
    finally:
        await fetcher.close()
