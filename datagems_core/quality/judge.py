"""The judge gate: one extra model call per candidate scores it 1..5 against the job's rubric.

    async with open_judge(settings=settings, config=judge, gateway=gateway, instructions=...) as j:
        verdict = await j.judge(record)   # Verdict(score=4, reasons=[...])

The reply is asked for with structured output (`{score, reasons}`) and retried like any call. A
judge that stays down (no attempt got a reply) raises InferenceError, which fails the job: a
candidate is never accepted unjudged. A judge that replies but gives no valid verdict after its
retries and re-ask (a small model's score of 0, prose) is a verdict without a score: the screen
rejects that candidate and the job goes on within its candidate budget. With the built-in mock gateway the verdict is a deterministic score drawn from the
record's fingerprint (so mock jobs exercise the gate), and says so in its reasons.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from datagems_core.config.settings import Settings
from datagems_core.errors import InferenceError
from datagems_core.inference.client import InferenceClient, open_inference_client
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.inference.structured import ask_for_object
from datagems_core.inference.usage import TokenUsage
from datagems_core.inference.wire import BodyTemplate, encode_message
from datagems_core.quality.gate_config import JudgeConfig
from datagems_core.quality.gates import exact_fingerprint

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "reasons": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
    },
    "required": ["score", "reasons"],
    "additionalProperties": False,
}
JUDGE_SYSTEM_PROMPT = """\
You judge synthetic data records for quality. Score the record from 1 (unusable) to 5 \
(excellent) against the rubric, and give at most five short reasons. Reply with exactly one \
JSON object {"score": <1-5>, "reasons": [<strings>]} and nothing else."""
_JUDGE_PARAMETERS = {"temperature": 0.0}


@dataclass
class Verdict:
    score: int | None  # None: the judge replied, but with no valid verdict
    reasons: list[str]
    usage: TokenUsage = field(default_factory=TokenUsage)

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "reasons": self.reasons}


class Judge(Protocol):
    async def judge(self, record: dict[str, Any]) -> Verdict: ...


class MockJudge:
    async def judge(self, record: dict[str, Any]) -> Verdict:
        score = 2 + int(exact_fingerprint(record)[:8], 16) % 4
        return Verdict(score=score, reasons=["mock judge: a score drawn from the record's hash"])


class ModelJudge:
    def __init__(self, *, client: InferenceClient, config: JudgeConfig, instructions: str) -> None:
        self.client = client
        context = f"Rubric:\n{config.rubric}\n\nThe dataset's instructions:\n{instructions}"
        self.template = BodyTemplate(
            messages=[("system", JUDGE_SYSTEM_PROMPT), ("user", context)],
            model=client.gateway.model,
            parameters={**_JUDGE_PARAMETERS, **client.gateway.parameters},
            schema=VERDICT_SCHEMA,
            schema_name="verdict",
        )

    async def judge(self, record: dict[str, Any]) -> Verdict:
        line = encode_message("user", "Record:\n" + json.dumps(record, ensure_ascii=False))
        answer = await ask_for_object(self.client, self.template, [line], _check_verdict)
        if answer.value is None and answer.is_systemic:
            raise InferenceError(f"the judge failed: {answer.error}")
        if answer.value is None:
            return Verdict(
                score=None, reasons=[f"no valid verdict: {answer.error}"], usage=answer.usage
            )
        reasons = [str(r)[:300] for r in answer.value.get("reasons") or []][:5]
        return Verdict(score=int(answer.value["score"]), reasons=reasons, usage=answer.usage)


def _check_verdict(value: dict[str, Any]) -> list[str]:
    score = value.get("score")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        return ["$.score: an integer from 1 to 5 is required"]
    reasons = value.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        return ["$.reasons: a list of strings is required"]
    return []


@asynccontextmanager
async def open_judge(
    *, settings: Settings, config: JudgeConfig, gateway: GatewayConfig | None, instructions: str
) -> AsyncIterator[Judge]:
    """A judge on `gateway` (None: the built-in mock)."""
    if gateway is None:
        yield MockJudge()
        return
    async with open_inference_client(settings=settings, gateway=gateway) as client:
        yield ModelJudge(client=client, config=config, instructions=instructions)
