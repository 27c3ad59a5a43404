"""What every benchmark generates: one set of instructions (the schema is tests.support.schemas.TICKET_SCHEMA)."""

from __future__ import annotations

INSTRUCTIONS = "Fictional support tickets of a software shop, each from a different customer."


CONCURRENCY = 64
LATENCY_MS = 200.0
