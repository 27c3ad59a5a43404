"""Token usage reported by the gateway for one call, one record or one job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Prompt, completion and total tokens; add two with `+`."""

    prompt: int = 0
    completion: int = 0
    total: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt + other.prompt,
            self.completion + other.completion,
            self.total + other.total,
        )

    def to_json(self) -> dict[str, int]:
        return {"prompt": self.prompt, "completion": self.completion, "total": self.total}

    @classmethod
    def from_json(cls, value: Any) -> TokenUsage:
        if not isinstance(value, dict):
            return cls()
        return cls(
            prompt=_count(value.get("prompt")),
            completion=_count(value.get("completion")),
            total=_count(value.get("total")),
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


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(int(value), 0)
