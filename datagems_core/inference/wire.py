"""The bytes on the wire: request bodies built from pre-serialised parts, and replies unwrapped.

Both flavours take the same OpenAI-style body. Replies come either plain (`choices[0].message`)
or, from the Ratio1 gateway, wrapped as `{"result": {"FULL_OUTPUT": [...], "TEXT_RESPONSE":
[...]}}`. Usage may sit at the top, in the result or inside FULL_OUTPUT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from datagems_core.inference.usage import TokenUsage

# How a body asks for structured output, most to least enforced (see `negotiation`).
StructuredForm = Literal["json_schema", "json_object_schema", "json_object", "prompt"]
STRUCTURED_FORMS: tuple[StructuredForm, ...] = (
    "json_schema",
    "json_object_schema",
    "json_object",
    "prompt",
)
_RESERVED = frozenset({"messages", "response_format", "stream", "model"})
_OK_STATUSES = frozenset({"ok", "success", "succeeded", "200"})
_ENVELOPE_KEYS = frozenset(
    {"choices", "result", "id", "object", "status", "REQUEST_ID", "MODEL_NAME", "TEXT_RESPONSE"}
)


def encode_message(role: str, content: str) -> bytes:
    return orjson.dumps({"role": role, "content": content})


def decode_json(data: bytes | str) -> Any:
    """A reply body decoded with orjson (a fifth of the stdlib's time); what orjson refuses and
    the stdlib takes (NaN, lone surrogates, UTF-16) goes to the stdlib.

    orjson reads integers beyond 64 bits as floats, so the model's own JSON (the message
    content) is parsed by `parsing.parse_object` with the stdlib. Raises ValueError when
    neither can decode it.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class BodyTemplate:
    """A chat body whose fixed messages, parameters and schema are serialised once per form.

    Every form renders the same fixed messages first, byte for byte, so gateways that cache
    prompt prefixes reuse them; the per-record messages come last. With `prompt_schema`, the
    forms that do not send the schema in `response_format` add it as a message of its own
    (for message sets that do not already carry it).

    >>> template = BodyTemplate(messages=[("system", "Be brief.")], model="m", parameters={},
    ...                         schema={"type": "object"})
    >>> body = template.render([encode_message("user", "hi")], "json_schema")
    """

    def __init__(
        self,
        *,
        messages: Sequence[tuple[str, str]],
        model: str | None,
        parameters: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str = "record",
        prompt_schema: bool = False,
    ) -> None:
        fixed = [encode_message(r, c) for r, c in messages]
        extra: dict[str, Any] = {k: v for k, v in parameters.items() if k not in _RESERVED}
        if model:
            extra["model"] = model
        common = json.dumps(extra, ensure_ascii=False)[1:-1].encode()
        formats: dict[StructuredForm, dict[str, Any] | None] = {
            "json_schema": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": False},
            },
            "json_object_schema": {"type": "json_object", "schema": schema}
            if schema
            else {"type": "json_object"},
            "json_object": {"type": "json_object"},
            "prompt": None,
        }
        schema_line = (
            [encode_message("user", schema_message(schema))] if prompt_schema and schema else []
        )
        self._heads: dict[StructuredForm, bytes] = {}
        self._tails: dict[StructuredForm, bytes] = {}
        for form, fmt in formats.items():
            head = fixed + (schema_line if form in ("json_object", "prompt") else [])
            self._heads[form] = b'{"messages":[' + b",".join(head) + (b"," if head else b"")
            self._tails[form] = (
                b"]"
                + (b"," + common if common else b"")
                + (
                    b',"response_format":' + json.dumps(fmt, ensure_ascii=False).encode()
                    if fmt is not None
                    else b""
                )
                + b"}"
            )

    def render(self, extra_messages: Sequence[bytes], form: StructuredForm) -> bytes:
        head = self._heads[form]
        if not extra_messages:
            head = head[:-1] if head.endswith(b",") else head
            return head + self._tails[form]
        return head + b",".join(extra_messages) + self._tails[form]


def schema_message(schema: dict[str, Any]) -> str:
    """The schema as a message, for forms where the gateway does not enforce it."""
    return "Reply with one JSON object that conforms to this JSON Schema:\n" + json.dumps(
        schema, ensure_ascii=False, separators=(",", ":")
    )


class ReplyError(ValueError):
    """The gateway answered 200 but reported an error, or sent no usable content."""


@dataclass(frozen=True, slots=True)
class Reply:
    content: Any
    usage: TokenUsage


def read_reply(data: Any) -> Reply:
    """The message content and usage of a decoded reply, plain or Ratio1-wrapped."""
    if not isinstance(data, dict):
        raise ReplyError(f"the gateway replied with a JSON {type(data).__name__}, not an object")
    if "error" in data and data["error"] and "choices" not in data:
        raise ReplyError(f"gateway error: {error_message(data)}")
    result = data.get("result")
    text_response: Any = None
    usage_block = data.get("usage")
    if isinstance(result, dict):
        if result.get("error"):
            raise ReplyError(f"gateway result error: {_short(result['error'])}")
        status = result.get("status")
        if status is not None and str(status).lower() not in _OK_STATUSES:
            raise ReplyError(f"gateway result status {status!r}")
        text_response = result.get("TEXT_RESPONSE")
        usage_block = usage_block or result.get("usage")
        payload: Any = result.get("FULL_OUTPUT", result)
    else:
        payload = data
    if isinstance(payload, list):
        payload = payload[0] if payload else {}
    if isinstance(payload, dict):
        usage_block = payload.get("usage") or usage_block
    content = _content_of(payload)
    if content is None and isinstance(text_response, list) and text_response:
        content = text_response[0]
    elif content is None and isinstance(text_response, str):
        content = text_response
    if content is None:
        raise ReplyError("the gateway's reply has no message content")
    return Reply(content=content, usage=TokenUsage.from_reply(usage_block))


def _content_of(payload: Any) -> Any:
    if not isinstance(payload, dict):
        return payload
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and message.get("content") is not None:
            return message["content"]
        if choices[0].get("text") is not None:
            return choices[0]["text"]
        return None
    message = payload.get("message")
    if isinstance(message, dict) and message.get("content") is not None:
        return message["content"]
    if payload.get("content") is not None:
        return payload["content"]
    if payload.keys() & _ENVELOPE_KEYS:
        return None  # an envelope without content, not a record
    return payload or None


def error_message(data: Any) -> str:
    """The human part of an error body: error.message, error, detail or message."""
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _short(error["message"])
        for key in ("error", "detail", "message"):
            if data.get(key):
                return _short(data[key])
        result = data.get("result")
        if isinstance(result, dict) and result.get("error"):
            return _short(result["error"])
    return _short(data)


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."
