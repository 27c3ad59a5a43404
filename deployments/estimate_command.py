"""`datagems generate ... --estimate`: what the job would cost, printed before anything runs."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from datagems_core.billing.estimates import Estimate, Range, estimate_job
from datagems_core.billing.ledger import record_draft_usage
from datagems_core.billing.pricing import format_usd
from datagems_core.config.settings import Settings
from datagems_core.datasets.definitions import DatasetDefinition
from datagems_core.inference.choice import bill_choice
from datagems_core.jobs.models import InferenceChoice
from datagems_core.quality.gate_config import GateConfig
from datagems_core.store.factory import open_store

CLI_OWNER = "cli"


def print_estimate(
    settings: Settings,
    *,
    title: str,
    instructions: str,
    schema: dict[str, Any],
    dataset_mode: bool,
    choice: InferenceChoice,
    gates: GateConfig,
    records: int,
    max_candidates: int | None,
) -> None:
    estimate = asyncio.run(
        _estimate(
            settings,
            title,
            instructions,
            schema,
            dataset_mode,
            choice,
            gates,
            records,
            max_candidates,
        )
    )
    for line in describe(estimate):
        typer.echo(line)


async def _estimate(
    settings: Settings,
    title: str,
    instructions: str,
    schema: dict[str, Any],
    dataset_mode: bool,
    choice: InferenceChoice,
    gates: GateConfig,
    records: int,
    max_candidates: int | None,
) -> Estimate:
    store = open_store(settings)
    try:
        billed = await bill_choice(store, settings, CLI_OWNER, choice)
        definition = DatasetDefinition(
            title=title,
            description="",
            instructions=instructions,
            schema=schema,
            dataset_mode=dataset_mode,
            inference=billed,
            gates=gates,
        )
        estimate, run = await estimate_job(
            store,
            settings,
            owner=CLI_OWNER,
            definition=definition,
            total_records=records,
            max_candidates=max_candidates,
        )
        await record_draft_usage(
            store,
            owner=CLI_OWNER,
            model=billed.billed_model or "default",
            prompt=sum(r.usage.prompt for r in run.results),
            completion=sum(r.usage.completion for r in run.results),
            estimated=sum(r.usage.estimated for r in run.results),
            price=billed.price,
            kind="estimate",
        )
        return estimate
    finally:
        await store.close()


def describe(estimate: Estimate) -> list[str]:
    """The estimate as a few lines for a terminal."""

    def span(r: Range, fmt: Any) -> str:
        if r.expected is None:
            return f"unknown (up to {fmt(r.high)})"
        return f"{fmt(r.expected)} ({fmt(r.low)} to {fmt(r.high)})"

    def count(value: float | None) -> str:
        return "?" if value is None else f"{value:,.0f}"

    def seconds(value: float | None) -> str:
        return "?" if value is None else f"{value:,.0f} s"

    rejected = ", ".join(f"{n} {gate}" for gate, n in sorted(estimate.rejected.items()))
    cost = "unknown (no price: set DATAGEMS_INFERENCE_*_PRICE_PER_MTOK)"
    if estimate.tokens_estimated:
        cost = "unknown (the gateway reports no usage: tokens estimated at 4 bytes a token)"
    if estimate.cost_usd is not None:
        cost = span(estimate.cost_usd, format_usd)
    return [
        f"sample: {estimate.sample} candidates, {estimate.accepted} accepted"
        + (f" ({rejected} rejected)" if rejected else ""),
        f"acceptance: {estimate.acceptance_rate:.0%} "
        f"(95% interval {estimate.acceptance_low:.0%} to {estimate.acceptance_high:.0%})",
        f"tokens per candidate: {estimate.tokens_per_candidate:,.0f}",
        f"for {estimate.total_records:,} accepted records:",
        f"  candidates {span(estimate.candidates, count)} (budget {estimate.max_candidates:,})",
        f"  tokens     {span(estimate.tokens, count)}",
        f"  cost       {cost}",
        f"  time       {span(estimate.seconds, seconds)} at {estimate.concurrency} in flight",
    ]
