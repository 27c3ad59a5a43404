"""Calling a Ratio1 edge node's HTTP API (CStore, R1FS): envelope, timeouts and retries.

Every JSON 200 reply is an envelope `{"result": ..., "server_node_addr": ..., ...}`; the caller
gets `result`. Transport errors (refused, reset, timeout) and 5xx replies are retried with
exponential backoff and jitter; a 4xx is the caller's mistake and is raised at once. Each error
names the service, the call and what to check.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import httpx

from datagems_core.errors import DatagemsError
from datagems_core.store.base import JSONValue

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0


class Ratio1Http:
    """One Ratio1 HTTP service at `base_url`, raising `error` (StoreError, FileStoreError...)."""

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        http: httpx.AsyncClient | None,
        retries: int,
        backoff_seconds: float,
        error: type[DatagemsError],
        hint: str,
        log_calls: bool = False,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.error = error
        self.hint = hint
        self.log_calls = log_calls
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()

    async def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        timeout: float,
        json: JSONValue = None,
        params: dict[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
    ) -> JSONValue:
        """Send one request (retrying faults) and return the envelope's `result`.

        `files` makes a multipart POST (httpx `files=`); open file objects are streamed and
        rewound for each attempt.
        """
        attempts = self.retries + 1
        problem = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(backoff_delay(attempt - 1, self.backoff_seconds))
            started = time.perf_counter()
            try:
                response = await self._http.request(
                    method,
                    self.base_url + path,
                    json=json if method == "POST" and files is None else None,
                    params=params,
                    files=files,
                    timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
                )
            except httpx.TimeoutException:
                problem = f"no answer within {timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"cannot connect or the connection broke ({type(exc).__name__}: {exc})"
            else:
                self._log(method, path, response.status_code, started)
                if response.status_code < 500:
                    return self._result(response, method, path, what)
                problem = f"HTTP {response.status_code}: {_server_error(response)}"
            if attempt + 1 < attempts:
                logger.warning(
                    "%s: %s %s for %s failed (%s); retrying (%d/%d)",
                    self.service,
                    method,
                    path,
                    what,
                    problem,
                    attempt + 1,
                    self.retries,
                )
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        raise self.error(
            f"{self.service}: {method} {path} for {what} failed after {tries}: {problem}; "
            f"{self.hint}"
        )

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def _result(self, response: httpx.Response, method: str, path: str, what: str) -> JSONValue:
        where = f"{self.service}: {method} {path} for {what}"
        if response.status_code != 200:
            raise self.error(
                f"{where} was refused with HTTP {response.status_code}: "
                f"{response.text[:500]}; this is a bug in the request, or {self.base_url} "
                "is not the service it should be"
            )
        try:
            body: Any = response.json()
        except ValueError:
            raise self.error(
                f"{where} answered with something that is not JSON: {response.text[:200]!r}; "
                f"check that {self.base_url} is the right URL"
            ) from None
        if not isinstance(body, dict) or "result" not in body:
            raise self.error(
                f"{where} answered without a Ratio1 envelope (no 'result'): "
                f"{response.text[:200]!r}; check that {self.base_url} is the right URL"
            )
        result: JSONValue = body["result"]
        return result

    def _log(self, method: str, path: str, status: int, started: float) -> None:
        if self.log_calls:
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.info("%s %s %s -> %d (%.0f ms)", self.service, method, path, status, elapsed_ms)


def backoff_delay(retry: int, base_seconds: float) -> float:
    """Exponential backoff with jitter: base * 2**retry, plus up to as much again at random."""
    delay = min(MAX_BACKOFF_SECONDS, base_seconds * 2.0**retry)
    return delay + random.uniform(0, delay)


def _server_error(response: httpx.Response) -> str:
    """The message of a Ratio1 500 (`{"detail": {..., "error": msg}}`), else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict) and isinstance(detail.get("error"), str):
        return str(detail["error"])
    return response.text[:300]
