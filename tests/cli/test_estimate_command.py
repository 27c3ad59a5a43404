"""`datagems generate ... --estimate` in a real process against the fake gateway process."""

from __future__ import annotations

import json
import re

from tests.cli.test_generate_command import cli_env, generate_args, run_cli
from tests.support.schemas import PERSON_SCHEMA


def test_estimate_prints_the_projection_and_makes_no_job(tmp_path, fake_gateway):
    (tmp_path / "person.schema.json").write_text(json.dumps(PERSON_SCHEMA))
    env = cli_env(
        DATAGEMS_DATA_DIR=str(tmp_path / "data"),
        DATAGEMS_INFERENCE_INPUT_PRICE_PER_MTOK="2",
        DATAGEMS_INFERENCE_OUTPUT_PRICE_PER_MTOK="8",
    )
    args = generate_args("out.csv", 300, "--gateway", fake_gateway.openai_base, "--estimate")
    done = run_cli(args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("sample: 5 candidates, ")
    assert "for 300 accepted records:" in done.stdout
    cost = next(line for line in lines if line.strip().startswith("cost"))
    assert "$" in cost and " to " in cost
    assert not (tmp_path / "out.csv").exists()
    assert fake_gateway.stats()["requests"] == 5  # the sample, nothing more


def test_estimate_without_a_price_says_unknown(tmp_path, fake_gateway):
    (tmp_path / "person.schema.json").write_text(json.dumps(PERSON_SCHEMA))
    env = cli_env(DATAGEMS_DATA_DIR=str(tmp_path / "data"))
    args = generate_args("out.csv", 10, "--gateway", fake_gateway.openai_base, "--estimate")
    done = run_cli(args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "cost       unknown" in done.stdout


def test_cost_budget_without_a_price_is_refused_before_anything_runs(tmp_path, fake_gateway):
    (tmp_path / "person.schema.json").write_text(json.dumps(PERSON_SCHEMA))
    env = cli_env(DATAGEMS_DATA_DIR=str(tmp_path / "data"))
    args = generate_args("out.csv", 10, "--gateway", fake_gateway.openai_base, "--max-cost", "1")
    done = run_cli(args, cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "maxCostUsd needs a price" in done.stderr


def test_a_run_ends_with_its_cost(tmp_path, prefect_server, fake_gateway):
    (tmp_path / "person.schema.json").write_text(json.dumps(PERSON_SCHEMA))
    env = cli_env(
        DATAGEMS_INFERENCE_INPUT_PRICE_PER_MTOK="2",
        DATAGEMS_INFERENCE_OUTPUT_PRICE_PER_MTOK="8",
    )
    args = generate_args("out.jsonl", 3, "--gateway", fake_gateway.openai_base)
    done = run_cli(args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^cost \$[0-9.]+ \(\$[0-9.e-]+ per accepted record\)$", done.stderr, re.M)


def test_a_gateway_without_usage_is_counted_from_sizes_by_the_cli(
    tmp_path, prefect_server, fake_gateway
):
    (tmp_path / "person.schema.json").write_text(json.dumps(PERSON_SCHEMA))
    fake_gateway.configure(omit_usage=True)
    env = cli_env(
        COLUMNS="240",
        DATAGEMS_INFERENCE_INPUT_PRICE_PER_MTOK="2",
        DATAGEMS_INFERENCE_OUTPUT_PRICE_PER_MTOK="8",
    )
    estimate = run_cli(
        generate_args("out.csv", 10, "--gateway", fake_gateway.openai_base, "--estimate"),
        cwd=tmp_path,
        env=env,
    )
    assert estimate.returncode == 0, estimate.stderr
    assert "cost       unknown (the gateway reports no usage" in estimate.stdout

    args = generate_args("out.jsonl", 40, "--gateway", fake_gateway.openai_base)
    done = run_cli([*args, "--max-tokens", "2000", "--concurrency", "2"], cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert "budget reached: " in done.stderr and "of 2,000 tokens" in done.stderr
    bar = next(line for line in done.stderr.splitlines() if "rec/s" in line)
    assert re.search(r"~[\d,]+ tokens cost unknown", bar), bar
    assert "tokens estimated from sizes" in done.stderr
