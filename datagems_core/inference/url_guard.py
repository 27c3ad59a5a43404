"""Server-side request forgery guard for user-supplied gateway URLs (inference profiles).

A URL passes when it is http(s), carries no credentials, its host is not on the seed's name
blocklist, and *every* address the host resolves to is public: private, loopback, link-local,
CGNAT, multicast, reserved and cloud-metadata addresses are refused (the seed looked at the name
only, so `10.0.0.1.nip.io` got through). Hosts in `DATAGEMS_ALLOWED_INFERENCE_HOSTS` skip the
address checks (on-premise gateways). Call it again right before use: DNS answers change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from datagems_core.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BLOCKED_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "metadata.google.internal"})
BLOCKED_SUFFIXES: Final = (
    ".localhost",
    ".local",
    ".internal",
    ".lan",
    ".home",
    ".corp",
    ".localdomain",
)
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
_CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")
# IPv6 ranges whose last 32 bits are an IPv4 address a host may end up talking to: IPv4-compatible
# (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), NAT64 well-known and local-use prefixes.
_EMBEDS_IPV4_LOW32: Final = tuple(
    ipaddress.ip_network(n) for n in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)
_SITE_LOCAL: Final = ipaddress.ip_network("fec0::/10")
RESOLVE_TIMEOUT_SECONDS: Final = 5.0


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if any(address in network for network in _EMBEDS_IPV4_LOW32):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses; an IPv4 address embedded in an IPv6
    one (mapped, compatible, translated, NAT64, 6to4, Teredo) must be public too."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _SITE_LOCAL:  # deprecated, still routed inside some networks
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
    if address in METADATA_ADDRESSES or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return False
    return address.is_global


def _field_error(message: str) -> BadRequest:
    return BadRequest(message, details={"field": "baseUrl"})


async def check_base_url(url: str, *, allowed_hosts: Iterable[str] = ()) -> str:
    """The URL without a trailing slash if it is safe to call from the server; BadRequest if not."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise _field_error(f"baseUrl is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise _field_error("baseUrl must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise _field_error("baseUrl must not contain a user name or password: use the API key")
    if not host:
        raise _field_error("baseUrl has no host name")
    if _is_allowed(host, allowed_hosts):
        return text.rstrip("/")
    if host in BLOCKED_NAMES or host.endswith(BLOCKED_SUFFIXES):
        raise _field_error(f"baseUrl host {host!r} is a local or internal name")
    for address in await _resolve(host):
        if not is_public_address(address):
            raise _field_error(
                f"baseUrl host {host!r} resolves to a non-public address ({address}); an admin "
                "can allow an on-premise gateway with DATAGEMS_ALLOWED_INFERENCE_HOSTS"
            )
    return text.rstrip("/")


def is_allowed_host(url: str, allowed_hosts: Iterable[str]) -> bool:
    """True when the URL's host is one an admin allowed (DATAGEMS_ALLOWED_INFERENCE_HOSTS)."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return False
    return _is_allowed(host.rstrip(".").lower(), allowed_hosts)


def _is_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    return bool(host) and host in {h.strip().rstrip(".").lower() for h in allowed_hosts}


async def _resolve(host: str) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError, UnicodeError) as exc:  # UnicodeError: not an IDNA name
        raise _field_error(f"baseUrl host {host!r} cannot be resolved: {exc}") from None
    addresses = []
    for *_, sockaddr in infos:
        # strip an IPv6 zone id ("fe80::1%eth0")
        addresses.append(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
    if not addresses:
        raise _field_error(f"baseUrl host {host!r} has no addresses")
    return addresses
