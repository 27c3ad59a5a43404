"""What every benchmark generates: one schema and one set of instructions, the same for all cases."""

from __future__ import annotations

from typing import Any

INSTRUCTIONS = "Fictional support tickets of a software shop, each from a different customer."

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "ticket_id": {"type": "string", "minLength": 6, "maxLength": 12},
        "customer": {"type": "string", "minLength": 1},
        "email": {"type": "string", "format": "email"},
        "plan": {"type": "string", "enum": ["free", "pro", "team", "enterprise"]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 5},
        "amount": {"type": "number", "minimum": 0, "maximum": 5000},
        "resolved": {"type": "boolean"},
        "subject": {"type": "string", "minLength": 3, "maxLength": 80},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city", "country"],
            "additionalProperties": False,
        },
    },
    "required": [
        "ticket_id",
        "customer",
        "email",
        "plan",
        "priority",
        "amount",
        "resolved",
        "subject",
        "tags",
        "address",
    ],
    "additionalProperties": False,
}

CONCURRENCY = 64
LATENCY_MS = 200.0
