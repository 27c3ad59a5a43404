"""Schema drafting for the mock gateway: a real JSON Schema read off the instructions.

Deterministic: the same instructions give the same schema. Field names the instructions mention
and that the mock recognises (name, email, age, price, date, url, ...) become typed properties;
a description field and a record id are always there. In dataset mode a required `label` enum
holds the classes the instructions list after "labels"/"classes"/"categories", else three
generic classes.
"""

from __future__ import annotations

import re
from typing import Any

from datagems_core.datasets.schemas import DRAFT_2020_12

_KNOWN_FIELDS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "minLength": 2, "maxLength": 80, "description": "Full name"},
    "email": {"type": "string", "format": "email", "description": "Contact email address"},
    "age": {"type": "integer", "minimum": 0, "maximum": 120, "description": "Age in years"},
    "price": {"type": "number", "minimum": 0, "maximum": 10000, "description": "Price in USD"},
    "amount": {"type": "number", "minimum": 0, "maximum": 100000, "description": "Amount"},
    "quantity": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "Units"},
    "rating": {"type": "integer", "minimum": 1, "maximum": 5, "description": "Rating 1 to 5"},
    "score": {"type": "number", "minimum": 0, "maximum": 1, "description": "Score 0 to 1"},
    "date": {"type": "string", "format": "date", "description": "Calendar date"},
    "timestamp": {"type": "string", "format": "date-time", "description": "When it happened"},
    "url": {"type": "string", "format": "uri", "description": "Web address"},
    "website": {"type": "string", "format": "uri", "description": "Web address"},
    "city": {"type": "string", "maxLength": 60, "description": "City name"},
    "country": {"type": "string", "maxLength": 60, "description": "Country name"},
    "title": {"type": "string", "maxLength": 120, "description": "Short title"},
    "text": {"type": "string", "maxLength": 500, "description": "Free text"},
    "review": {"type": "string", "maxLength": 500, "description": "Review text"},
    "tags": {
        "type": "array",
        "items": {"type": "string", "maxLength": 30},
        "maxItems": 5,
        "description": "Keywords",
    },
    "active": {"type": "boolean", "description": "Whether it is active"},
}
_ALIASES = {"e-mail": "email", "cost": "price", "birthday": "date", "created": "timestamp"}
_CLASSES = re.compile(
    r"\b(?:labels?|classes|categories)\b\s*(?:[:=]|are|of|like)?\s*([^.;\n]+)", re.I
)


def draft_mock_schema(instructions: str, *, dataset_mode: bool) -> dict[str, Any]:
    words = re.findall(r"[a-z][a-z-]*", instructions.lower())
    properties: dict[str, Any] = {
        "record_id": {"type": "string", "format": "uuid", "description": "Unique record id"}
    }
    for word in words:
        name = _ALIASES.get(word, word.rstrip("s") if word.rstrip("s") in _KNOWN_FIELDS else word)
        if name in _KNOWN_FIELDS and name not in properties:
            properties[name] = dict(_KNOWN_FIELDS[name])
    if len(properties) == 1:
        properties["title"] = dict(_KNOWN_FIELDS["title"])
        properties["description"] = {
            "type": "string",
            "maxLength": 300,
            "description": "What the record is about",
        }
    if dataset_mode:
        properties["label"] = {
            "type": "string",
            "enum": _classes(instructions),
            "description": "Ground-truth class",
        }
    return {
        "$schema": DRAFT_2020_12,
        "title": "SyntheticRecord",
        "description": "Drafted locally by the mock gateway (DATAGEN_MOCK_INFERENCE_API=true)",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _classes(instructions: str) -> list[str]:
    match = _CLASSES.search(instructions)
    if match:
        names = [
            re.sub(r"[^a-z0-9_]+", "_", part.strip().lower()).strip("_")
            for part in re.split(r",|\bor\b|\band\b|/|\|", match.group(1))
        ]
        unique = list(dict.fromkeys(n for n in names if n and len(n) <= 40))
        if 2 <= len(unique) <= 12:
            return unique
    return ["class_a", "class_b", "class_c"]
