"""Token usage reported by the gateway for one call, one record or one job.

A gateway that sends no `usage` block still spends tokens. Its calls are counted from sizes
instead, so a budget in tokens still stops the job: the request body's bytes and the reply
content's bytes (UTF-8, as JSON when it is not text), each divided by `BYTES_PER_TOKEN` and
rounded up. Four bytes a token is the usual rule of thumb for English text with the tokenizers
of GPT-style models; it is an estimate, so such tokens are kept apart in `estimated`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

BYTES_PER_TOKEN: Final = 4


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Prompt, completion and total tokens; add two with `+`. `estimated` is how many of the
    total were counted from sizes because the gateway reported none."""

    prompt: int = 0
    completion: int = 0
    total: int = 0
    estimated: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt + other.prompt,
            self.completion + other.completion,
            self.total + other.total,
            self.estimated + other.estimated,
        )

    def to_record(self) -> dict[str, int]:
        """All four counts, as job and shard records (and the API) show them."""
        return {
            "prompt": self.prompt,
            "completion": self.completion,
            "total": self.total,
            "estimated": self.estimated,
        }

    def to_json(self) -> dict[str, int]:
        counts = {"prompt": self.prompt, "completion": self.completion, "total": self.total}
        if self.estimated:
            counts["estimated"] = self.estimated
        return counts

    @classmethod
    def from_json(cls, value: Any) -> TokenUsage:
        if not isinstance(value, dict):
            return cls()
        return cls(
            prompt=_count(value.get("prompt")),
            completion=_count(value.get("completion")),
            total=_count(value.get("total")),
            estimated=_count(value.get("estimated")),
        )

    @classmethod
    def from_reply(cls, usage: Any) -> TokenUsage:
        """Read an OpenAI-style `usage` block; missing or malformed counts are zero."""
        if not isinstance(usage, dict):
            return cls()
        prompt = _count(usage.get("prompt_tokens"))
        completion = _count(usage.get("completion_tokens"))
        total = _count(usage.get("total_tokens")) or prompt + completion
        return cls(prompt, completion, total)


def estimate_usage(request: bytes, content: Any) -> TokenUsage:
    """One call's tokens counted from its sizes (see the module docstring), marked estimated."""
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    prompt = math.ceil(len(request) / BYTES_PER_TOKEN)
    completion = math.ceil(len(text.encode()) / BYTES_PER_TOKEN)
    return TokenUsage(prompt, completion, prompt + completion, estimated=prompt + completion)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(int(value), 0)
