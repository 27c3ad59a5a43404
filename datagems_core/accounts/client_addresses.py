"""Which address a request comes from, when a reverse proxy may stand in front.

`X-Forwarded-For` is whatever the client wrote plus what each proxy appended, so only the
entries added by proxies we trust mean anything. With `DATAGEMS_TRUST_PROXY_HEADERS=false` (the
default) the socket peer is the client. With `true`, the header counts only when the peer is a
trusted proxy (`DATAGEMS_TRUSTED_PROXIES`, addresses or networks; loopback when empty), and then
the client is the right-most entry that is not itself a trusted proxy: a client that writes its
own `X-Forwarded-For` only adds entries to the left of the one its proxy appended.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from datagems_core.config.settings import Settings

_LOOPBACK = ("127.0.0.0/8", "::1/128")


def _networks(
    entries: Iterable[str],
) -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], set[str]]:
    networks = []
    names = set()
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower())  # a name (a test client, a unix socket peer)
    return networks, names


def is_trusted_proxy(peer: str, settings: Settings) -> bool:
    """True when `peer` is one of the configured proxies (and proxy headers are trusted)."""
    if not settings.trust_proxy_headers:
        return False
    networks, names = _networks(settings.trusted_proxies or _LOOPBACK)
    if peer.strip().lower() in names:
        return True
    try:
        address = ipaddress.ip_address(peer.strip().strip("[]"))
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_address(
    peer: str | None, *, forwarded_for: str, real_ip: str, settings: Settings
) -> str:
    """The client's address for rate limits and sessions (see the module docstring)."""
    peer = peer or "unknown"
    if not is_trusted_proxy(peer, settings):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if not hops:
        return real_ip.strip() or peer
    for hop in reversed(hops):
        if not is_trusted_proxy(hop, settings):
            return hop
    return hops[0]
