"""Every bench module at a tiny N, so a broken benchmark fails CI. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import Line
from bench.run_all import BENCHES, SMOKE, run_benches, write_doc
from bench.stack import Stack, open_stack
from deployments.prefect_server import PrefectServer


@pytest.fixture(scope="module")
def stack(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bench")
    with open_stack(root=root, prefect_api_url=prefect_server.api_url) as opened:
        yield opened


def _by_case(lines: list[Line]) -> dict[str, Line]:
    return {line.case: line for line in lines}


def test_throughput_runs_every_client(stack: Stack):
    lines = _by_case(run_benches(stack, names=["throughput"], profile=SMOKE))
    for client in ("baseline", "task per record", "task per batch"):
        line = lines[f"N=30 {client}"]
        assert line.figures["valid"] == "30/30"
        assert float(line.figures["rec/s"]) > 0
    assert "Prefect server CPU s" in lines["N=30 task per batch"].figures


def test_faults_end_with_every_record_valid(stack: Stack):
    lines = run_benches(stack, names=["faults"], profile=SMOKE)
    assert len(lines) == 6
    assert all(line.figures["valid"] == "40/40" for line in lines)
    calls = [int(line.figures["calls"]) for line in lines if line.case.startswith("5% 500")]
    assert all(count > 40 for count in calls)  # the 500s were retried


def test_memory_reports_peak_rss_per_size(stack: Stack):
    lines = run_benches(stack, names=["memory"], profile=SMOKE)
    assert [line.figures["valid"] for line in lines] == ["40/40", "80/80"]
    assert lines[1].target is not None
    assert float(lines[1].figures["peak RSS MB"]) > 0


def test_resume_after_kill_makes_every_record_once(stack: Stack):
    (line,) = run_benches(stack, names=["resume"], profile=SMOKE)
    assert line.raw["valid"] + line.raw["failed"] == 400
    assert line.raw["status"] == "succeeded"
    assert 0 < line.raw["committed"] < 400


def test_exports_write_every_valid_row_in_each_format(stack: Stack):
    lines = run_benches(stack, names=["exports"], profile=SMOKE)
    built, *formats = lines
    assert built.figures["valid"] == "2475"
    assert [line.case.split()[-1] for line in formats] == ["csv", "jsonl", "parquet", "json"]
    assert all(line.figures["rows"] == "2475" for line in formats)


def test_api_latency_serves_both_endpoints_without_errors(stack: Stack):
    lines = run_benches(stack, names=["api"], profile=SMOKE)
    assert len(lines) == 2
    assert all(line.figures["errors"] == "0" for line in lines)
    assert all(float(line.figures["p99 ms"]) >= float(line.figures["p50 ms"]) for line in lines)


def test_real_model_compares_the_client_with_a_bare_one(stack: Stack):
    records, client, variation = run_benches(stack, names=["real_model"], profile=SMOKE)
    assert records.raw["form"] == "json_object_schema"  # negotiated: json_schema gets a 500
    assert records.raw["calls"] >= 2
    assert float(client.figures["ratio"]) > 0 and client.target
    assert variation.raw["prefix"]["prompt_tokens"] < variation.raw["full"]["prompt_tokens"]


def test_write_doc_replaces_only_the_results_block(tmp_path: Path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\nprose\n<!-- bench results: start -->\nold\n<!-- bench results: end -->\nafter\n"
    )
    line = Line("api", "case", {"p99 ms": "1.0"}, target="p99 <= 50 ms", met=True)
    write_doc(
        doc, command="python -m bench.run_all", header=["machine: x"], lines=[line], minutes=1.0
    )
    text = doc.read_text()
    assert "old" not in text
    assert text.startswith("# Benchmarks\n\nprose\n") and text.endswith("after\n")
    assert "| api | case | p99 ms 1.0 | p99 <= 50 ms: met |" in text


def test_smoke_profile_covers_every_bench():
    assert set(SMOKE) == set(BENCHES)


def test_gates_cases_deliver_every_record(stack: Stack):
    lines = _by_case(run_benches(stack, names=["gates"], profile=SMOKE))
    assert lines["N=40 gates off"].figures["valid"] == "40/40"
    assert lines["N=40 gates on"].figures["valid"] == "40/40"
    noisy = lines["N=40 15% invalid 15% duplicate"]
    assert noisy.figures["valid"] == "40/40"
    assert int(noisy.figures["candidates"]) > 40  # the noise cost replacements


def test_accounting_runs_on_and_off_side_by_side(stack: Stack):
    off, on = run_benches(stack, names=["accounting"], profile=SMOKE)
    assert off.figures["valid"] == on.figures["valid"] == "30/30"
    assert float(on.figures["x off"]) > 0 and on.target is not None
