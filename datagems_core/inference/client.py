"""One HTTP exchange with a model gateway, classified: a reply, a retryable failure or a rejection.

    async with open_inference_client(settings=settings, gateway=gateway) as client:
        reply = await client.send(body)

Retrying is the caller's job (`structured.ask_for_object`), so one attempt is one call here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx

from datagems_core.config.settings import Settings
from datagems_core.errors import InferenceRejected
from datagems_core.inference.concurrency import AdaptiveLimiter
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.inference.negotiation import Negotiation, forced_form
from datagems_core.inference.redaction import (
    mask_secrets,
    redact_headers,
    redact_text,
    redact_url,
)
from datagems_core.inference.retry import parse_retry_after
from datagems_core.inference.transport import build_transport, request_headers
from datagems_core.inference.usage import estimate_usage
from datagems_core.inference.wire import (
    Reply,
    ReplyError,
    decode_json,
    error_message,
    read_reply,
)
from datagems_core.store.base import KVStore

logger = logging.getLogger("datagems.inference")

_FATAL_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 422})
_OVERLOAD_STATUSES = frozenset({429, 503})
_LOG_LIMIT = 4000


class TransientFailure(Exception):
    """A call that may succeed if tried again: 429, 5xx, timeout, connection error, garbage."""

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        is_unreachable: bool = False,
        is_timeout: bool = False,
    ) -> None:
        reason = mask_secrets(reason)
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.is_unreachable = is_unreachable
        self.is_timeout = is_timeout


class ResponseFormatRejected(Exception):
    """The gateway's error names `response_format` (at any status): another form may work.

    `failure` is what the same error means when no `response_format` was sent.
    """

    def __init__(self, message: str, *, failure: TransientFailure | InferenceRejected) -> None:
        message = mask_secrets(message)
        super().__init__(message)
        self.message = message
        self.failure = failure


class InferenceClient:
    """Sends chat bodies to one gateway through a shared HTTP client and an adaptive limiter."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport,
        gateway: GatewayConfig,
        limiter: AdaptiveLimiter,
        log_requests: bool = False,
        max_reply_bytes: int = 4_194_304,
        negotiation: Negotiation | None = None,
    ) -> None:
        self.transport = transport
        self.max_reply_bytes = max_reply_bytes
        self.gateway = gateway
        self.limiter = limiter
        self.url = gateway.url
        self.log_requests = log_requests
        self.negotiation = negotiation or Negotiation(
            base_url=gateway.base_url, model=gateway.model
        )
        self._secrets = [gateway.api_key.get_secret_value()] if gateway.api_key else []
        # Built once: a request is these plus its body. Calling the transport directly skips
        # httpx.AsyncClient's per-request URL merging, auth, redirect and cookie handling,
        # about 0.1 ms of CPU a call here; none of it applies to a gateway call.
        self._url = httpx.URL(gateway.url)
        self._headers = request_headers(gateway)
        timeout = httpx.Timeout(gateway.timeout_seconds, connect=min(gateway.timeout_seconds, 10.0))
        self._extensions = {"timeout": timeout.as_dict()}

    async def send(self, body: bytes) -> Reply:
        """POST one chat body; raises TransientFailure, ResponseFormatRejected or InferenceRejected."""
        ticket = await self.limiter.acquire()
        overloaded = False
        try:
            response = await self._post(body)
            overloaded = response.status_code in _OVERLOAD_STATUSES
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            failure = self._transport_failure(exc)
            overloaded = failure.is_timeout
            raise failure from None
        finally:
            self.limiter.release(ticket, overloaded=overloaded)
        if self.log_requests:
            self._log(body, response)
        reply = self._classify(response)
        if reply.usage.total == 0:  # no usage reported: count the call from its sizes
            return Reply(content=reply.content, usage=estimate_usage(body, reply.content))
        return reply

    async def _post(self, body: bytes) -> httpx.Response:
        request = httpx.Request(
            "POST", self._url, headers=self._headers, content=body, extensions=self._extensions
        )
        response = await self.transport.handle_async_request(request)
        try:
            body = await self._read_capped(response)
        finally:
            await response.aclose()
        # The body is decoded already: the new response must not decode it again.
        headers = [
            (k, v)
            for k, v in response.headers.raw
            if k.lower() not in (b"content-encoding", b"content-length")
        ]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        """The decoded body, refused beyond DATAGEMS_MAX_REPLY_BYTES (before it is parsed)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_reply_bytes:
                raise TransientFailure(
                    f"the gateway's reply is over DATAGEMS_MAX_REPLY_BYTES "
                    f"({self.max_reply_bytes} bytes); refused unread"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _transport_failure(self, exc: Exception) -> TransientFailure:
        # httpx-aiohttp maps aiohttp's errors loosely (a refused connection arrives as
        # ConnectTimeout), so the original aiohttp error, when there is one, decides.
        cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
        if isinstance(cause, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError) or (
            cause is exc and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        ):
            return TransientFailure(
                f"cannot reach the gateway at {redact_url(self.url)}: "
                + mask_secrets(_describe(cause), self._secrets),
                is_unreachable=True,
            )
        if isinstance(cause, TimeoutError | aiohttp.ServerTimeoutError | httpx.TimeoutException):
            return TransientFailure(
                f"no reply within {self.gateway.timeout_seconds:g}s (timed out)", is_timeout=True
            )
        return TransientFailure(
            "connection to the gateway failed: " + mask_secrets(_describe(cause), self._secrets)
        )

    def _classify(self, response: httpx.Response) -> Reply:
        status = response.status_code
        if status >= 400:
            message = mask_secrets(_error_text(response), self._secrets)
            if status == 429:
                raise TransientFailure(
                    f"rate limited by the gateway (429): {message}",
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                )
            failure: TransientFailure | InferenceRejected
            if status in _FATAL_STATUSES:
                failure = InferenceRejected(
                    f"the gateway at {redact_url(self.url)} rejected the request "
                    f"({status}): {message}",
                    details={"status": status},
                )
            else:
                failure = TransientFailure(
                    f"gateway error {status}: {message}",
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                )
            if _names_response_format(message):
                raise ResponseFormatRejected(f"({status}) {message}", failure=failure)
            raise failure
        try:
            data = decode_json(response.content)
        except ValueError:
            excerpt = mask_secrets(response.text[:120], self._secrets)
            raise TransientFailure(
                f"the gateway sent a non-JSON body ({status}): {excerpt!r}"
            ) from None
        try:
            return read_reply(data)
        except ReplyError as exc:
            raise TransientFailure(mask_secrets(str(exc), self._secrets)) from None

    def _log(self, body: bytes, response: httpx.Response) -> None:
        request_headers = redact_headers(self._headers)
        logger.info(
            "inference request POST %s headers=%s body=%s",
            redact_url(self.url),
            json.dumps(request_headers),
            redact_text(body.decode(errors="replace"), self._secrets)[:_LOG_LIMIT],
        )
        logger.info(
            "inference response %s headers=%s body=%s",
            response.status_code,
            json.dumps(redact_headers(response.headers.items())),
            redact_text(response.text, self._secrets)[:_LOG_LIMIT],
        )


def _names_response_format(message: str) -> bool:
    lowered = message.lower()
    return "response_format" in lowered or "json_schema" in lowered


def _error_text(response: httpx.Response) -> str:
    try:
        return error_message(decode_json(response.content))
    except ValueError:
        text = response.text.strip()
        return text[:300] or response.reason_phrase


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


@asynccontextmanager
async def open_inference_client(
    *, settings: Settings, gateway: GatewayConfig, store: KVStore | None = None
) -> AsyncIterator[InferenceClient]:
    """An InferenceClient with its own connection pool and limiter, closed on exit.

    With a `store`, the structured-output form found for the gateway is shared through it.
    """
    transport = build_transport(gateway)
    try:
        yield InferenceClient(
            transport=transport,
            gateway=gateway,
            limiter=AdaptiveLimiter(ceiling=gateway.ceiling, rpm=gateway.rpm),
            log_requests=settings.log_inference_requests,
            max_reply_bytes=settings.max_reply_bytes,
            negotiation=Negotiation(
                base_url=gateway.base_url,
                model=gateway.model,
                store=store,
                forced=forced_form(settings.structured_output),
            ),
        )
    finally:
        await transport.aclose()
