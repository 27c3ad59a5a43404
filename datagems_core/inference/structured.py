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

from datagems_core.datasets.prompts import reask_prompt
from datagems_core.errors import InferenceRejected, InferenceUnreachable
from datagems_core.inference.client import InferenceClient, ResponseFormatRejected, TransientFailure
from datagems_core.inference.parsing import UnparseableContent, parse_object
from datagems_core.inference.redaction import redact_url
from datagems_core.inference.retry import backoff_delay
from datagems_core.inference.usage import TokenUsage
from datagems_core.inference.wire import BodyTemplate, encode_message

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
            value, spent = await _call(client, template, current)
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
        usage += spent
        replies += 1
        if isinstance(value, UnparseableContent):
            reason = f"unparseable reply: {value}"
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


async def _call(
    client: InferenceClient, template: BodyTemplate, messages: list[bytes]
) -> tuple[dict[str, Any] | UnparseableContent, TokenUsage]:
    """One model attempt in the gateway's structured-output form: the parsed object (or why the
    reply would not parse) and the tokens spent. A refused form moves to the next one within
    the same attempt (the gateway told us how to ask; that was not a model attempt).

    Raises TransientFailure and InferenceRejected.
    """
    negotiation = client.negotiation
    usage = TokenUsage()
    while True:
        async with negotiation.turn() as turn:
            try:
                reply = await client.send(template.render(messages, turn.form))
            except ResponseFormatRejected as exc:
                if turn.form == "prompt":  # no response_format was sent: a plain error
                    raise exc.failure from None
                negotiation.refuse(turn, exc.message)
                continue
            except InferenceRejected as exc:
                # A 400/422 to a form on trial is a refusal of the form whatever it says; if
                # the prompt-only form gets one too, it was the request after all.
                status = exc.details.get("status") if exc.details else None
                if turn.is_trial and turn.form != "prompt" and status in (400, 422):
                    negotiation.refuse(turn, exc.message)
                    continue
                raise
            usage += reply.usage
            try:
                value = parse_object(reply.content)
            except UnparseableContent as exc:
                if negotiation.is_ignored(turn):
                    continue
                if turn.form == "prompt":
                    await negotiation.confirm(turn)  # nothing to refuse: the form stands
                return exc, usage
            await negotiation.confirm(turn)
            return value, usage
