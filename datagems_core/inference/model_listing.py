"""Ask an OpenAI-compatible gateway which models it serves (`GET /models`, then `/get_models`)."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import SecretStr

from datagems_core.errors import BadRequest, InferenceRejected, InferenceUnreachable
from datagems_core.inference.connect_guard import check_literal_host, open_guarded_session
from datagems_core.inference.url_guard import is_allowed_host
from datagems_core.store.base import JSONValue

LIST_TIMEOUT_SECONDS = 15.0


async def list_models(
    *,
    base_url: str,
    api_key: SecretStr | None,
    allowed_hosts: Iterable[str] = (),
    timeout_seconds: float = LIST_TIMEOUT_SECONDS,
) -> list[JSONValue]:
    """The models the gateway lists (`data` of an OpenAI list, or a bare array).

    The caller has checked `base_url` with url_guard; redirects are not followed, since one could
    point back inside the network, and unless its host is in `allowed_hosts` the connection goes
    to public addresses only (the name may answer differently than at the check): BadRequest if
    it would not.
    """
    headers = {"Accept": "application/json"}
    if api_key is not None and api_key.get_secret_value():
        headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
    last_problem = "no answer"
    async with httpx.AsyncClient(
        timeout=timeout_seconds,
        follow_redirects=False,
        headers=headers,
        transport=_guarded_transport(base_url, allowed_hosts),
    ) as client:
        for path in ("/models", "/get_models"):
            try:
                response = await client.get(base_url.rstrip("/") + path)
            except httpx.HTTPError as exc:
                raise InferenceUnreachable(
                    f"cannot reach {base_url}: {type(exc).__name__}"
                ) from None
            except InferenceRejected as exc:  # connect_guard: the address is not public
                raise BadRequest(exc.message, details=exc.details) from None
            if response.status_code == 200:
                try:
                    data = response.json()
                except ValueError:
                    last_problem = f"{path} did not answer JSON"
                    continue
                if isinstance(data, dict) and isinstance(data.get("data"), list):
                    models: list[JSONValue] = data["data"]
                    return models
                return data if isinstance(data, list) else []
            last_problem = f"{path} answered HTTP {response.status_code}"
            if response.status_code in (401, 403):
                raise InferenceRejected(f"{base_url} refused the API key ({last_problem})")
    raise InferenceUnreachable(f"{base_url} lists no models: {last_problem}")


def _guarded_transport(base_url: str, allowed_hosts: Iterable[str]) -> AiohttpTransport | None:
    """None (httpx' own transport) for an allowed host; else one that connects to public
    addresses only."""
    if is_allowed_host(base_url, allowed_hosts):
        return None
    try:
        check_literal_host(base_url)
    except InferenceRejected as exc:
        raise BadRequest(exc.message, details=exc.details) from None
    ssl_context = httpx.create_ssl_context()
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    session = functools.partial(
        open_guarded_session,
        ssl_context=ssl_context,
        limit=2,
        keepalive_timeout=limits.keepalive_expiry,
    )
    return AiohttpTransport(verify=ssl_context, limits=limits, trust_env=False, client=session)
