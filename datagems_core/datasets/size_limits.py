"""How large a gateway reply, a record and one string may be (settings, with sane defaults).

The caps hold before anything is validated or stored, for the mock and for real gateways:
a schema whose minimums cannot fit is refused when the job is created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from datagems_core.config.settings import Settings


@dataclass(frozen=True)
class SizeLimits:
    max_reply_bytes: int = 4_194_304
    max_record_bytes: int = 1_048_576
    max_string_length: int = 65_536

    @classmethod
    def from_settings(cls, settings: Settings) -> SizeLimits:
        return cls(
            max_reply_bytes=settings.max_reply_bytes,
            max_record_bytes=settings.max_record_bytes,
            max_string_length=settings.max_string_length,
        )


def record_size_problem(record: Any, limits: SizeLimits) -> str | None:
    """Why `record` is too large to validate or keep, or None when it fits."""
    encoded = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    size = len(encoded.encode("utf-8", "surrogatepass"))
    if size > limits.max_record_bytes:
        return (
            f"$: the record is {size} bytes, over DATAGEMS_MAX_RECORD_BYTES "
            f"({limits.max_record_bytes})"
        )
    stack: list[tuple[Any, str]] = [(record, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str) and len(value) > limits.max_string_length:
            return (
                f"{path}: the string has {len(value)} characters, over "
                f"DATAGEMS_MAX_STRING_LENGTH ({limits.max_string_length})"
            )
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}") for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))
    return None
