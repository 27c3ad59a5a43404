"""Cross-site request forgery defence for cookie-authenticated requests.

A state-changing request (not GET/HEAD/OPTIONS) that authenticates with the session cookie must
show that it comes from our own pages: either its `Origin` (or, when a browser sends none, its
`Referer`) names this host, or it carries an `X-Requested-With` header. Browsers send `Origin` on
every cross-origin POST and cannot add a custom header to a cross-site request without a CORS
preflight, which this API never grants. Bearer-token requests are exempt: a browser never adds
the token by itself. The cookie is also SameSite=Lax, which stops most cross-site POSTs already.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from fastapi import Request

from datagems_core.accounts.client_addresses import is_trusted_proxy
from datagems_core.config.settings import Settings
from datagems_core.errors import Forbidden

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER: Final = "x-requested-with"


def _netloc(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    port = parts.port if parts.port not in (None, default) else None
    return parts.hostname.lower() + (f":{port}" if port else "")


def _own_hosts(request: Request, settings: Settings) -> set[str]:
    hosts = set()
    candidates = [request.headers.get("host", "")]
    peer = request.client.host if request.client else ""
    if is_trusted_proxy(peer, settings):
        candidates += request.headers.get("x-forwarded-host", "").split(",")
    for host in candidates:
        host = host.strip()
        if host:
            for scheme in ("http", "https"):  # a TLS-terminating proxy may hide the scheme
                netloc = _netloc(f"{scheme}://{host}")
                if netloc:
                    hosts.add(netloc)
    app_host = _netloc(settings.app_url)
    if app_host:
        hosts.add(app_host)
    return hosts


def request_origin(request: Request) -> str | None:
    """Where the browser says the request comes from: Origin, else Referer; None if neither."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return _netloc(origin) or "invalid"
    if origin == "null":
        return "null"
    referer = request.headers.get("referer")
    return (_netloc(referer) or "invalid") if referer else None


def check_same_origin(request: Request, settings: Settings) -> None:
    """Forbidden unless the request shows it comes from our own pages (see the module doc)."""
    if request.method in SAFE_METHODS or request.headers.get(CSRF_HEADER):
        return
    origin = request_origin(request)
    if origin is not None and origin in _own_hosts(request, settings):
        return
    raise Forbidden(
        "Cross-site request refused: send it from the DataGems pages, add the header "
        "'X-Requested-With: XMLHttpRequest', or authenticate with an API token",
        details={"reason": "csrf"},
    )


def refuse_foreign_origin(request: Request, settings: Settings) -> None:
    """For sign-in: refuse only a browser request that names another site (scripts send none)."""
    origin = request_origin(request)
    if origin is None or request.headers.get(CSRF_HEADER):
        return
    if origin not in _own_hosts(request, settings):
        raise Forbidden("Cross-site sign-in refused", details={"reason": "csrf"})
