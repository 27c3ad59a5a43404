"""Ask a gateway for one JSON object that passes a check, within an attempt budget.

Each call is an attempt: a retryable failure (429, 5xx, timeout, connection error, garbage)
backs off and tries again; unparseable content tries again at once. A parsed object that fails
the check gets exactly one re-ask quoting the check's messages, then the answer fails with its
reason. Values are never invented or filled in: what the model sent is what passes or fails.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datagems_core.errors import InferenceRejected, InferenceUnreachable
from datagems_core.inference.client import InferenceClient, ResponseFormatRejected, TransientFailure
from datagems_core.inference.parsing import UnparseableContent, parse_object
from datagems_core.inference.redaction import redact_url
from datagems_core.inference.retry import backoff_delay
from datagems_core.inference.usage import TokenUsage
from datagems_core.inference.wire import BodyTemplate, encode_message
from datagems_core.prompts import reask_prompt

Check = Callable[[dict[str, Any]], list[str]]


@dataclass
class Answer:
    value: dict[str, Any] | None
    error: str | None
    attempts: int
    usage: TokenUsage = field(default_factory=TokenUsage)
    # No attempt got a reply from the model: the failure is the gateway's, not the record's.
    is_systemic: bool = False


async def ask_for_object(
    client: InferenceClient,
    template: BodyTemplate,
    messages: Sequence[bytes],
    check: Check,
) -> Answer:
    """The first object that passes `check`, or the reason none did.

    Raises InferenceRejected when the gateway refuses the request itself, and
    InferenceUnreachable when no attempt could connect.
    """
    gateway = client.gateway
    budget = gateway.max_attempts
    attempts = 0
    unreachable = 0
    usage = TokenUsage()
    reason = "no attempt was made"
    current = list(messages)
    has_reasked = False
    replies = 0
    while attempts < budget:
        attempts += 1
        try:
            reply = await client.send(template.render(current, client.response_format))
        except ResponseFormatRejected as exc:
            if client.response_format == "json_object":
                raise InferenceRejected(
                    f"the gateway at {redact_url(client.url)} rejected response_format: {exc}"
                ) from None
            client.use_json_object()
            attempts -= 1  # the gateway told us how to ask; this was not a model attempt
            continue
        except TransientFailure as exc:
            reason = exc.reason
            unreachable += exc.is_unreachable
            if attempts < budget:
                await asyncio.sleep(
                    backoff_delay(
                        attempts,
                        base=gateway.backoff_base_seconds,
                        cap=gateway.backoff_max_seconds,
                        retry_after=exc.retry_after,
                    )
                )
            continue
        usage += reply.usage
        replies += 1
        try:
            value = parse_object(reply.content)
        except UnparseableContent as exc:
            reason = f"unparseable reply: {exc}"
            continue
        errors = check(value)
        if not errors:
            return Answer(value=value, error=None, attempts=attempts, usage=usage)
        reason = "schema validation failed: " + "; ".join(errors)
        if has_reasked:
            break
        has_reasked = True
        budget = max(budget, attempts + 1)  # the re-ask happens even on the last attempt
        current = [
            *messages,
            encode_message("assistant", json.dumps(value, ensure_ascii=False)),
            encode_message("user", reask_prompt(errors)),
        ]
    if attempts and unreachable == attempts:
        raise InferenceUnreachable(reason, details={"url": redact_url(client.url)})
    return Answer(
        value=None,
        error=reason,
        attempts=attempts,
        usage=usage,
        is_systemic=attempts > 0 and replies == 0,
    )
