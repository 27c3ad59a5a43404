"""The judge gate against the fake gateway: a judge that replies without a valid verdict rejects
the candidate (the job goes on); a judge that gets no reply at all fails, as a gateway down."""

from __future__ import annotations

import pytest

from datagems_core.datasets.record_maker import RecordResult
from datagems_core.errors import InferenceError
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.jobs.models import Job
from datagems_core.quality.gate_config import GateConfig, JudgeConfig
from datagems_core.quality.judge import Verdict, open_judge
from datagems_core.quality.screen import CandidateScreen
from datagems_core.store.memory import MemoryStore
from tests.support.processes import free_port
from tests.support.settings import make_settings

CONFIG = JudgeConfig(rubric="Realistic customers", min_score=3, model="judge-model")
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}


def _gateway(base_url: str) -> GatewayConfig:
    return GatewayConfig(
        base_url=base_url,
        model="judge-model",
        max_attempts=2,
        timeout_seconds=5.0,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.02,
    )


async def _verdict(tmp_path, base_url: str) -> Verdict:
    settings = make_settings(tmp_path, allowed_inference_hosts="127.0.0.1")
    async with open_judge(
        settings=settings, config=CONFIG, gateway=_gateway(base_url), instructions="People"
    ) as judge:
        return await judge.judge({"name": "Ann"})


async def test_a_judge_replying_without_a_valid_verdict_gives_a_verdict_without_a_score(
    tmp_path, fake_gateway
):
    fake_gateway.configure(rate_invalid=1.0)  # every reply, and the re-ask's, breaks the schema
    verdict = await _verdict(tmp_path, fake_gateway.openai_base)
    assert verdict.score is None and verdict.reasons[0].startswith("no valid verdict: ")
    assert fake_gateway.stats()["requests"] >= 2


async def test_a_judge_without_any_reply_fails_as_a_gateway_down(tmp_path, fake_gateway):
    with pytest.raises(InferenceError, match="cannot reach the gateway"):
        await _verdict(tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    fake_gateway.configure(rate_500=1.0)  # it answers, but never with a reply
    with pytest.raises(InferenceError, match="the judge failed"):
        await _verdict(tmp_path, fake_gateway.openai_base)


class _NoVerdict:
    async def judge(self, record):
        return Verdict(score=None, reasons=["no valid verdict: $.score: an integer from 1 to 5"])


async def test_the_screen_rejects_a_candidate_the_judge_gave_no_verdict_for():
    job = Job.model_construct(id="job_x", peers=["local"])
    gates = GateConfig(judge=CONFIG)
    screen = CandidateScreen(
        store=MemoryStore(), job=job, gates=gates, schema=SCHEMA, judge=_NoVerdict()
    )
    result = RecordResult(index=0, ok=True, data={"name": "Ann"}, error=None, attempts=1)
    screened = await screen.screen(result)
    assert not screened.ok and screened.gate == "judge"
    assert (
        screened.error == "judge: the judge gave no valid verdict: $.score: an integer from 1 to 5"
    )
