"""What a job will cost before it runs: a small sample of candidates through the real path.

The sample runs exactly as a job's candidates do (the gateway, the schema re-ask, the gates and
the judge), counted to the user as usage. From it:

- acceptance rate p = accepted / sample, with its 95 % Wilson score interval [p_lo, p_hi];
- tokens per candidate t = mean over the sample, with [t_lo, t_hi] = t -/+ 1.96 standard errors;
- candidates for N accepted: N / p, ranging over N / p_hi .. N / p_lo (capped at the job's
  candidate budget, past which the job would fail);
- tokens = candidates x t (low: fewest candidates x t_lo; high: most candidates x t_hi);
- cost = tokens at the job's price (unknown without one);
- time = candidates x seconds per candidate / concurrency.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from datagems_core.billing.ledger import record_draft_usage
from datagems_core.billing.pricing import Price, cost_usd
from datagems_core.clock import now_iso
from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import DatasetDefinition
from datagems_core.datasets.record_maker import RecordResult, RecordSpec
from datagems_core.inference.choice import gateway_for_choice
from datagems_core.inference.usage import TokenUsage
from datagems_core.jobs.candidates import default_max_candidates
from datagems_core.jobs.models import Job, JobDetails
from datagems_core.quality.screen import open_screened_maker
from datagems_core.store.base import KVStore
from datagems_core.stored_model import StoredModel

Z95 = 1.96


class Range(StoredModel):
    expected: float | None
    low: float | None
    high: float | None


class Estimate(StoredModel):
    sample: int
    accepted: int
    rejected: dict[str, int]
    acceptance_rate: float
    acceptance_low: float
    acceptance_high: float
    tokens_per_candidate: float
    prompt_tokens_per_candidate: float
    completion_tokens_per_candidate: float
    seconds_per_candidate: float
    concurrency: int
    total_records: int
    max_candidates: int
    candidates: Range
    tokens: Range
    cost_usd: Range | None
    seconds: Range
    sample_tokens: int
    sample_cost_usd: float | None
    price: Price | None
    model: str | None
    cost_known: bool
    tokens_estimated: bool = False  # the gateway reported no usage: tokens counted from sizes
    # Give it as `estimateId` to POST /api/jobs (same definition, within the hour) and the
    # sample becomes the job's first candidates instead of being paid for again.
    estimate_id: str | None = None
    method: str = "Wilson 95% interval on acceptance, mean +/- 1.96 s.e. on tokens (docs/cost.md)"


@dataclass(frozen=True)
class SampleRun:
    results: list[RecordResult]
    seconds: list[float]
    seed: int = 0  # the variation seed the sample was made with (a job made from it goes on)


def usage_of(results: Iterable[RecordResult]) -> TokenUsage:
    """The tokens the candidates spent together."""
    return sum((r.usage for r in results), TokenUsage())


async def count_sample_usage(
    store: KVStore,
    *,
    owner: str,
    model: str | None,
    price: Price | None,
    results: Iterable[RecordResult],
) -> str | None:
    """Count an estimate's sample candidates to `owner` as usage; the ledger field written
    (None: they spent nothing)."""
    usage = usage_of(results)
    return await record_draft_usage(
        store,
        owner=owner,
        model=model or "default",
        prompt=usage.prompt,
        completion=usage.completion,
        estimated=usage.estimated,
        price=price,
        kind="estimate",
    )


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


async def run_sample(
    store: KVStore, settings: Settings, *, owner: str, definition: DatasetDefinition, size: int
) -> SampleRun:
    """`size` candidates of the definition through the gateway and the gates, not stored."""
    seed = int(time.time()) % (2**31)
    spec = RecordSpec(
        instructions=definition.instructions,
        schema=definition.json_schema,
        dataset_mode=definition.dataset_mode,
        seed=seed,
    )
    stamp = now_iso()
    job = Job(
        id="estimate",
        owner=owner,
        title=definition.title,
        total_records=size,
        created_at=stamp,
        updated_at=stamp,
        job_details_cid="",
        peers=["estimate"],
    )
    details = JobDetails.model_validate(
        {**dict(definition), "seed": seed, "id": job.id, "owner": owner, "created_at": stamp}
    )
    gateway = await gateway_for_choice(store, settings, owner, definition.inference)
    async with AsyncExitStack() as stack:
        maker, screen = await open_screened_maker(
            stack, store=store, settings=settings, job=job, details=details, spec=spec,
            gateway=gateway,
        )  # fmt: skip

        async def one(index: int) -> tuple[RecordResult, float]:
            started = time.perf_counter()
            result = await screen.screen(await maker.make_record(index))
            return result, time.perf_counter() - started

        done = await asyncio.gather(*(one(i) for i in range(size)))
    return SampleRun(results=[r for r, _ in done], seconds=[s for _, s in done], seed=seed)


def project(
    run: SampleRun,
    *,
    total_records: int,
    max_candidates: int,
    concurrency: int,
    price: Price | None,
    model: str | None,
) -> Estimate:
    results = run.results
    size = len(results)
    accepted = sum(r.ok for r in results)
    rejected: dict[str, int] = {}
    for r in results:
        if not r.ok:
            rejected[r.gate or "invalid"] = rejected.get(r.gate or "invalid", 0) + 1
    p = accepted / size if size else 0.0
    p_lo, p_hi = wilson(accepted, size)
    per = [float(r.usage.prompt + r.usage.completion) for r in results]
    t = statistics.fmean(per) if per else 0.0
    se = statistics.stdev(per) / math.sqrt(size) if size > 1 else 0.0
    t_lo, t_hi = max(t - Z95 * se, 0.0), t + Z95 * se
    prompt = statistics.fmean([float(r.usage.prompt) for r in results]) if results else 0.0
    completion = statistics.fmean([float(r.usage.completion) for r in results]) if results else 0.0
    secs = statistics.fmean(run.seconds) if run.seconds else 0.0

    def candidates_for(rate: float) -> float | None:
        return None if rate <= 0 else min(total_records / rate, float(max_candidates))

    cand = Range(expected=candidates_for(p), low=candidates_for(p_hi), high=candidates_for(p_lo))
    cand_high = cand.high if cand.high is not None else float(max_candidates)
    tokens = Range(
        expected=None if cand.expected is None else round(cand.expected * t),
        low=None if cand.low is None else round(cand.low * t_lo),
        high=round(cand_high * t_hi),
    )
    share_prompt = prompt / t if t else 0.5

    def dollars(count: float | None) -> float | None:
        if count is None:
            return None
        whole = round(count)
        part = round(whole * share_prompt)
        return cost_usd(prompt=part, completion=whole - part, price=price)

    estimated = any(r.usage.estimated for r in results)
    costs = None
    if price is not None and not estimated:
        costs = Range(
            expected=dollars(tokens.expected), low=dollars(tokens.low), high=dollars(tokens.high)
        )

    def seconds_for(count: float | None) -> float | None:
        return None if count is None else round(count * secs / max(concurrency, 1), 1)

    sample = usage_of(results)
    return Estimate(
        sample=size,
        accepted=accepted,
        rejected=rejected,
        acceptance_rate=round(p, 4),
        acceptance_low=round(p_lo, 4),
        acceptance_high=round(p_hi, 4),
        tokens_per_candidate=round(t, 1),
        prompt_tokens_per_candidate=round(prompt, 1),
        completion_tokens_per_candidate=round(completion, 1),
        seconds_per_candidate=round(secs, 3),
        concurrency=concurrency,
        total_records=total_records,
        max_candidates=max_candidates,
        candidates=Range(
            expected=None if cand.expected is None else round(cand.expected),
            low=None if cand.low is None else round(cand.low),
            high=round(cand_high),
        ),
        tokens=tokens,
        cost_usd=costs,
        seconds=Range(
            expected=seconds_for(cand.expected),
            low=seconds_for(cand.low),
            high=seconds_for(cand_high),
        ),
        sample_tokens=sample.prompt + sample.completion,
        sample_cost_usd=None
        if estimated
        else cost_usd(prompt=sample.prompt, completion=sample.completion, price=price),
        price=price,
        model=model,
        cost_known=price is not None and not estimated,
        tokens_estimated=estimated,
    )


async def estimate_job(
    store: KVStore,
    settings: Settings,
    *,
    owner: str,
    definition: DatasetDefinition,
    total_records: int,
) -> tuple[Estimate, SampleRun]:
    """Run the sample and project it to `total_records` accepted records."""
    size = settings.estimate_sample
    run = await run_sample(store, settings, owner=owner, definition=definition, size=size)
    choice = definition.inference
    concurrency = min(
        choice.concurrency or settings.inference_concurrency, settings.inference_max_concurrency
    )
    estimate = project(
        run,
        total_records=total_records,
        max_candidates=definition.max_candidates or default_max_candidates(settings, total_records),
        concurrency=concurrency,
        price=choice.price,
        model=choice.billed_model,
    )
    return estimate, run
