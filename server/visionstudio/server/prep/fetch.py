"""Fetching input images by URL: bounded in time and bytes, and never into private networks."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, unquote_to_bytes, urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.prep.fetch_slots import CallerSlots

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
CONNECTIONS = 64


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    total_timeout_s: float
    connect_timeout_s: float
    max_redirects: int
    # Fetches one API key may have in flight at once; the pool holds CONNECTIONS in all.
    max_per_caller: int = 8


class AddressPolicy:
    """Public addresses are fine; loopback, private, link-local (cloud metadata), multicast and
    reserved ones only for hosts or ranges on the allow-list."""

    def __init__(self, allowlist: Iterable[str]) -> None:
        self._hosts: set[str] = set()
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allowlist:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(entry.lower())

    def allows(self, host: str, address: IPAddress) -> bool:
        if host.lower() in self._hosts or any(address in net for net in self._networks):
            return True
        # An IPv6 address that carries an IPv4 one reaches that one: judge both.
        return all(
            candidate.is_global and not candidate.is_multicast
            for candidate in (address, *embedded_ipv4(address))
        )


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_6TO4 = ipaddress.IPv6Network("2002::/16")
_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: mapped (::ffff:a.b.c.d), compatible
    (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d, RFC 6052/8215), 6to4 (2002:aabb:ccdd::) and Teredo
    (its server and client). Python's `is_global` passes several of these as public."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address in _NAT64 or address in _NAT64_LOCAL or address in _COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    return found


class RefusedAddress(OSError):
    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}, a non-public address")
        self.host = host
        self.address = address


class _GuardedResolver(AbstractResolver):
    """Checks every address a name resolves to, so redirects and DNS tricks are covered too."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if not self._policy.allows(host, ipaddress.ip_address(result["host"])):
                raise RefusedAddress(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


class Fetcher:
    def __init__(self, limits: FetchLimits, policy: AddressPolicy) -> None:
        self._limits = limits
        self._policy = policy
        self._session: aiohttp.ClientSession | None = None
        self._slots = CallerSlots(limits.max_per_caller)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=_GuardedResolver(self._policy), limit=CONNECTIONS
            )
            timeout = aiohttp.ClientTimeout(
                total=self._limits.total_timeout_s, sock_connect=self._limits.connect_timeout_s
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(self, url: str, field: str, *, caller: str = "") -> bytes:
        """The bytes at `url`, fetched within `caller`'s share of the connections (callers
        not named share one)."""
        if url.lower().startswith("data:"):
            return self._decode_data_url(url, field)
        total = self._limits.total_timeout_s
        try:
            # One bound for the whole fetch, every redirect (and the wait for a slot) included.
            async with asyncio.timeout(total), self._slots.hold(caller):
                return await self._follow(url, field)
        except TimeoutError as exc:
            raise InvalidArgument(field, f"fetching the URL took over {total:g} s") from exc

    async def _follow(self, url: str, field: str) -> bytes:
        for _ in range(self._limits.max_redirects + 1):
            self._check_url(url, field)
            try:
                async with self._client().get(url, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        url = urljoin(url, resp.headers["Location"])
                        continue
                    if resp.status != 200:
                        raise InvalidArgument(field, f"fetching the URL gave HTTP {resp.status}")
                    return await self._read_capped(resp, field)
            except RefusedAddress as exc:
                raise self._refused(field, exc.host) from exc
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, RefusedAddress):
                    raise self._refused(field, exc.os_error.host) from exc
                raise InvalidArgument(field, f"could not connect to {exc.host}") from exc
            except TimeoutError as exc:
                raise InvalidArgument(field, "fetching the URL timed out") from exc
            except aiohttp.ClientError as exc:
                raise InvalidArgument(
                    field, f"fetching the URL failed: {type(exc).__name__}"
                ) from exc
        raise InvalidArgument(field, f"more than {self._limits.max_redirects} redirects")

    def _check_url(self, url: str, field: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(field, "must be an http(s) URL with a host")
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return  # a name: the resolver checks what it resolves to
        if not self._policy.allows(parts.hostname, literal):
            raise self._refused(field, parts.hostname)

    @staticmethod
    def _refused(field: str, host: str) -> InvalidArgument:
        return InvalidArgument(
            field,
            f"host {host} is a loopback, private, link-local or reserved address; such URLs are "
            "refused unless listed in VISIONSTUDIO_URL_ALLOWLIST",
            reason="URL_NOT_ALLOWED",
        )

    async def _read_capped(self, resp: aiohttp.ClientResponse, field: str) -> bytes:
        limit = self._limits.max_bytes
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise InvalidArgument(field, f"the image is {declared} bytes; the limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(256 * 1024):
            size += len(chunk)
            if size > limit:
                raise InvalidArgument(field, f"the image is over the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _decode_data_url(self, url: str, field: str) -> bytes:
        header, sep, payload = url[5:].partition(",")
        if not sep:
            raise InvalidArgument(field, "is a data: URL without a comma")
        # base64 grows data by 4/3, so this bound is checked before decoding anything.
        if len(payload) * 3 // 4 > self._limits.max_bytes:
            raise InvalidArgument(field, f"the image is over the limit of {self._limits.max_bytes}")
        try:
            if header.lower().endswith(";base64"):
                # Line breaks and spaces (as MIME wraps base64) are ignored, as in image_file.
                return base64.b64decode("".join(unquote(payload).split()), validate=True)
            return unquote_to_bytes(payload)
        except (binascii.Error, ValueError) as exc:
            raise InvalidArgument(field, "is a data: URL whose base64 is invalid") from exc
