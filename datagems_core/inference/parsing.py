"""Turn a model's reply content into a JSON object: extract the text, parse, repair if need be.

Tries, in order: the text as it is; without Markdown fences; each balanced top-level `{...}`
block; the span from the first `{` to the last `}`; then the same candidates through
`json_repair` (trailing commas, single quotes, missing closers). A JSON string that itself
holds an object is unwrapped. Only an object counts: prose or a bare value is unparseable.
"""

from __future__ import annotations

import json
import re
from typing import Any

import json_repair

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?\s*```", re.S)


class UnparseableContent(ValueError):
    pass


def extract_text(content: Any) -> str | None:
    """The text of a message's content: a string, an array of parts or one part object."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [t for t in (_part_text(part) for part in content) if t is not None]
        return "\n".join(texts) if texts else None
    if isinstance(content, dict):
        return _part_text(content)
    return None


def _is_part(value: dict[str, Any]) -> bool:
    """A content part ({"type": "text", "text": ...}) rather than a decoded record."""
    return "type" in value and set(value) <= {"type", "text", "content"}


def _part_text(part: Any) -> str | None:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return None
    text = part.get("text")
    if isinstance(text, str):
        return text
    if isinstance(text, dict) and isinstance(text.get("value"), str):
        return str(text["value"])
    inner = part.get("content")
    if isinstance(inner, dict) and isinstance(inner.get("text"), str):
        return str(inner["text"])
    if isinstance(inner, str):
        return inner
    return None


def parse_object(content: Any) -> dict[str, Any]:
    """The JSON object in `content` (text, parts or an already-decoded object)."""
    if isinstance(content, dict) and not _is_part(content):
        return content  # the gateway decoded the JSON for us
    text = extract_text(content)
    if text is None:
        raise UnparseableContent("the reply has no text content")
    text = text.lstrip("\ufeff").strip()
    if not text:
        raise UnparseableContent("the reply is empty")
    value = _loads(text)  # the usual case: the reply is exactly the object
    if isinstance(value, dict):
        return value
    candidates = _candidates(text)
    for candidate in candidates[1:]:
        value = _loads(candidate)
        if isinstance(value, dict):
            return value
    for candidate in candidates:
        value = _unwrap(json_repair.loads(candidate))
        if isinstance(value, dict) and value:
            return value
    raise UnparseableContent(f"the reply is not a JSON object: {_preview(text)}")


def _candidates(text: str) -> list[str]:
    found = [text]
    fenced = _FENCE.findall(text)
    found.extend(block.strip() for block in fenced)
    found.extend(_balanced_blocks(text))
    first, last = text.find("{"), text.rfind("}")
    if first != -1:
        found.append(text[first : last + 1] if last > first else text[first:])
    return list(dict.fromkeys(c for c in found if c))


def _balanced_blocks(text: str) -> list[str]:
    """Top-level `{...}` spans, skipping braces inside strings."""
    blocks: list[str] = []
    depth = 0
    start = -1
    in_string = False
    escaped = False
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = depth > 0
        elif char == "{":
            if depth == 0:
                start = i
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                blocks.append(text[start : i + 1])
    return blocks


def _loads(text: str) -> Any:
    try:
        return _unwrap(json.loads(text))
    except ValueError:
        return None


def _unwrap(value: Any) -> Any:
    """A JSON string that holds JSON (double-encoded replies) is decoded once more."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _preview(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= limit else flat[:limit] + "...")
