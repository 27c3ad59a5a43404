"""JSON responses written by orjson, for routes that send stored records as they are.

A route's return type makes FastAPI validate the value against it and dump it with pydantic; for
records typed `dict[str, Any]` that is a deep copy and pydantic's slow path for `Any`, about four
times what orjson takes. Such routes return a `JSONBody` and name their schema in
`response_model=` for the OpenAPI document; tests/api/test_openapi.py checks that what they send
matches it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import Response


class JSONBody(Response):
    """`JSONBody({"jobs": records, "count": 3})`: compact UTF-8 JSON, `application/json`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except orjson.JSONEncodeError:
            # Integers beyond 64 bits, which orjson refuses: the stdlib writes them exactly.
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
