"""How the fake gateway reads a request and shapes a reply: the schema and structured-output
form asked for, refusals as real servers word them, broken records and the Ratio1 wrapper."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from datagems_core.inference.mock_schema import draft_mock_schema

# What llama-cpp-python 0.3 answers to a response_format of type json_schema (HTTP 500).
LLAMA_CPP_REFUSAL = (
    "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}]"
)


def schema_of(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return "none", None
    kind = str(fmt.get("type"))
    if kind == "json_schema":
        inner = fmt.get("json_schema") or {}
        return kind, inner.get("schema")
    return kind, fmt.get("schema")


def form_of(body: dict[str, Any]) -> str:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return "prompt"
    if fmt.get("type") == "json_object":
        return "json_object_schema" if fmt.get("schema") else "json_object"
    return str(fmt.get("type"))


def schema_in_messages(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema a prompt carries (the last line of a message that parses as one)."""
    for message in reversed(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            continue
        for line in reversed(content.splitlines()):
            if line.startswith("{"):
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict) and "properties" in value:
                    return value
    return None


def refusal_reply(style: str, form: str) -> web.Response:
    if style == "llama_cpp":
        error = {"message": LLAMA_CPP_REFUSAL, "type": "internal_server_error"}
        return web.json_response({"error": error}, status=500)
    if style in ("400", "422"):
        return web.json_response({"error": {"message": f"unsupported: {form}"}}, status=int(style))
    return web.json_response(
        {
            "id": "chatcmpl-fake-prose",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Sure! Here it is."}}
            ],
        }
    )


def drafted_schema(body: dict[str, Any]) -> dict[str, Any]:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    system = " ".join(str(m.get("content")) for m in messages if m.get("role") == "system")
    user = " ".join(str(m.get("content")) for m in messages if m.get("role") == "user")
    return draft_mock_schema(user, dataset_mode="labelled dataset" in system)


def broken_record(record: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    """A record that violates the schema: a required field with the wrong type, or an extra key."""
    broken = dict(record)
    required = (schema or {}).get("required") or list(broken)
    for name in required:
        broken[name] = [] if isinstance(broken.get(name), str) else "not-what-the-schema-says"
        return broken
    broken["unexpected_field"] = True
    return broken


def wrap_ratio1(reply: dict[str, Any], content: str) -> dict[str, Any]:
    return {
        "result": {
            "REQUEST_ID": reply["id"],
            "MODEL_NAME": reply["model"],
            "TEXT_RESPONSE": [content],
            "FULL_OUTPUT": [reply],
        },
        "server_node_addr": "0xai_fake_node",
    }
