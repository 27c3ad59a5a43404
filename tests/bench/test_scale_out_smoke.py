"""The scale-out bench at its smoke size: every case delivers every record. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.run_all import SMOKE, run_benches
from bench.stack import open_stack

pytestmark = pytest.mark.timeout(600)


def test_scale_out_runs_one_and_two_workers_and_both_prefect_databases(tmp_path: Path):
    with open_stack(root=tmp_path, with_prefect=False) as stack:
        lines = {line.case: line for line in run_benches(stack, names=["scale_out"], profile=SMOKE)}
    n = SMOKE["scale_out"]["sizes"][0]
    one, two, versus = (
        lines[f"N={n} one worker"],
        lines[f"N={n} two workers"],
        lines[f"N={n} Prefect on PG vs SQLite"],
    )
    assert [line.figures["valid"] for line in (one, two, versus)] == [f"{n}/{n}"] * 3
    assert two.target and float(two.figures["two/one"]) > 0
    assert float(versus.figures["on SQLite"]) > 0
    assert float(versus.figures["Prefect server CPU s per 1k rec on PostgreSQL"]) > 0
