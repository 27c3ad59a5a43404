"""`datagems generate ... --estimate`: what the job would cost, printed before anything runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from datagems_core.billing.estimates import Estimate, Range, count_sample_usage, estimate_job
from datagems_core.billing.pricing import format_usd
from datagems_core.config.settings import Settings
from datagems_core.store.factory import open_store
from deployments.generate_inputs import check_cli_definition

CLI_OWNER = "cli"


def print_estimate(
    settings: Settings, changes: dict[str, Any], *, records: int, schema_path: Path
) -> None:
    """Run the estimate's sample for the definition the options give and print what N records
    would cost; the sample counts as usage."""
    estimate = asyncio.run(_estimate(settings, changes, records, schema_path))
    for line in describe(estimate):
        typer.echo(line)


async def _estimate(
    settings: Settings, changes: dict[str, Any], records: int, schema_path: Path
) -> Estimate:
    store = open_store(settings)
    try:
        checked = await check_cli_definition(
            store, settings, CLI_OWNER, changes, records=records, schema_path=schema_path
        )
        definition = checked.definition
        estimate, run = await estimate_job(
            store, settings, owner=CLI_OWNER, definition=definition, total_records=records
        )
        await count_sample_usage(
            store,
            owner=CLI_OWNER,
            model=definition.inference.billed_model,
            price=definition.inference.price,
            results=run.results,
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
