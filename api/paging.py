"""The offset and limit query parameters of paged lists."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

# The stores take 64-bit offsets; no list is near a billion entries.
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]
