"""API keys and signed image URLs."""

from __future__ import annotations

import pytest

from visionstudio.server.auth import ApiKeys, key_id
from visionstudio.server.errors import Unauthenticated
from visionstudio.server.urls import UrlSigner, new_id


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
