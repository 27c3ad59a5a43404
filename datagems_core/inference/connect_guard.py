"""The connect-time half of the SSRF guard: user gateways are reached on public addresses only.

`url_guard.check_base_url` resolves a user's gateway host and refuses non-public answers, but the
HTTP client resolves the name again when it connects, so a name whose answer changes in between
(DNS rebinding) would reach an internal address. `PublicAddressResolver` sits inside the aiohttp
connector of a user gateway's connection pool and checks every address it is about to connect
to with the same rule (`url_guard.is_public_address`). The server's own gateway
(`DATAGEN_INFERENCE_*`) and hosts in `DATAGEMS_ALLOWED_INFERENCE_HOSTS` do not use it.

    session = open_guarded_session(ssl_context=ctx, limit=64, keepalive_timeout=5.0)
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from datagems_core.errors import InferenceRejected
from datagems_core.inference.url_guard import IPAddress, is_public_address


def address_refused(host: str, address: str) -> InferenceRejected:
    """The error for a connection to `host` that would land on the non-public `address`."""
    return InferenceRejected(
        f"refused to connect to {host!r}: its address {address} is not public (private, "
        "loopback, link-local or metadata); point the profile at a public gateway, or an admin "
        "can allow an on-premise one with DATAGEMS_ALLOWED_INFERENCE_HOSTS",
        details={"field": "baseUrl", "host": host, "reason": "address_not_public"},
    )


def _parse(address: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None


class PublicAddressResolver(AbstractResolver):
    """Wraps a resolver and refuses a host when any address it answers is not public.

    Raises InferenceRejected (not an OSError), so aiohttp passes it through unwrapped and the
    caller sees a refusal rather than a retryable connection failure. aiohttp caches only
    answers that passed.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = _parse(result["host"])
            if address is None or not is_public_address(address):
                raise address_refused(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_literal_host(url: str) -> None:
    """Refuse a URL whose host is a non-public IP literal.

    aiohttp connects to IP literals without asking its resolver; a literal cannot rebind, so
    checking it once before connecting is enough.
    """
    host = (urlsplit(url).hostname or "").strip("[]")
    address = _parse(host)
    if address is not None and not is_public_address(address):
        raise address_refused(host, str(address))


def open_guarded_session(
    *,
    ssl_context: ssl.SSLContext,
    limit: int,
    keepalive_timeout: float | None,
) -> aiohttp.ClientSession:
    """An aiohttp session whose connections only go to public addresses (call inside a loop)."""
    connector = aiohttp.TCPConnector(
        resolver=PublicAddressResolver(),
        ssl=ssl_context,
        limit=limit,
        keepalive_timeout=keepalive_timeout,
    )
    return aiohttp.ClientSession(connector=connector)
