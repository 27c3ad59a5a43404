"""Ask an OpenAI-compatible gateway which models it serves (`GET /models`, then `/get_models`)."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from datagems_core.errors import InferenceRejected, InferenceUnreachable
from datagems_core.store.base import JSONValue

LIST_TIMEOUT_SECONDS = 15.0


async def list_models(
    *, base_url: str, api_key: SecretStr | None, timeout_seconds: float = LIST_TIMEOUT_SECONDS
) -> list[JSONValue]:
    """The models the gateway lists (`data` of an OpenAI list, or a bare array).

    The caller has checked `base_url` with url_guard; redirects are not followed, since one could
    point back inside the network.
    """
    headers = {"Accept": "application/json"}
    if api_key is not None and api_key.get_secret_value():
        headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
    last_problem = "no answer"
    async with httpx.AsyncClient(
        timeout=timeout_seconds, follow_redirects=False, headers=headers
    ) as client:
        for path in ("/models", "/get_models"):
            try:
                response = await client.get(base_url.rstrip("/") + path)
            except httpx.HTTPError as exc:
                raise InferenceUnreachable(
                    f"cannot reach {base_url}: {type(exc).__name__}"
                ) from None
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
