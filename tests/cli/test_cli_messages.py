"""What a new user meets first in `datagems`: its help, its messages, where it keeps jobs, and
the files it writes."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from deployments.cli import app
from tests.cli.test_generate_command import JOB_LINE, cli_env, generate_args, run_cli

COMMANDS = ["generate", "resume", "export", "up", "server", "worker", "deploy"]


def help_text(monkeypatch, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", "80")  # what click measures the terminal by
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="datagems")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_reads_at_80_columns(monkeypatch, command):
    text = help_text(monkeypatch, *([command] if command else []))
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert not any(line.endswith("-") for line in lines), "no word broken at a hyphen"
    assert "…" not in text and "..." not in text.replace("[ARGS]...", ""), "nothing cut short"
    assert not any(set(line) & set("╭│╰─") for line in lines), "no boxes cut at the edge"


def test_generate_help_names_every_option_whole_and_says_which_are_required(monkeypatch):
    text = " ".join(help_text(monkeypatch, "generate").split())
    for option in ("--schema", "--records", "--out"):
        after = text.split(f"{option} <", 1)[1].split(" --", 1)[0]
        assert "[required]" in after, f"{option} does not say it is required"
    assert "--instructions-file <path>" in text
    assert "--instructions <str> What the dataset is about [required, or a file]" in text
    assert "--dataset-mode Labelled records" in text


def test_a_schema_file_that_is_not_json_is_named_with_line_and_column(tmp_path):
    (tmp_path / "ticket.json").write_text('{"type": "object",\n  "properties": {,}\n}')
    args = generate_args("x.csv", 3)
    args[args.index("person.schema.json")] = "ticket.json"
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --schema ticket.json is not JSON: Expecting property name enclosed in double "
        "quotes at line 2, column 18"
    ]


def test_a_schema_file_that_is_not_an_object_says_it_must_be_one(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    args = generate_args("x.csv", 3)
    args[args.index("person.schema.json")] = "list.json"
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --schema list.json: $: the schema must be a JSON object, got an array"
    )


@pytest.mark.parametrize(
    "command", [["export", "job_1_abcdef", "--out", "x.csv"], ["resume", "job_1_abcdef"]]
)
def test_a_job_not_in_this_directory_names_the_data_dir_it_looked_in(tmp_path, command):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in cli_env().items() if k != "DATAGEMS_DATA_DIR"}
    result = run_cli(command, cwd=elsewhere, env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: no job job_1_abcdef in {elsewhere / '.datagems'} (set DATAGEMS_DATA_DIR)"
    )
    assert list(elsewhere.iterdir()) == [], "looking for a job made an empty data dir"


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)  # the CLI's processes inherit it
    yield
    os.umask(previous)


def test_outputs_get_the_usual_file_mode_and_the_job_line_names_the_data_dir(
    tmp_path, prefect_server, umask_022
):
    data_dir = tmp_path / "data"
    work = tmp_path / "work"
    work.mkdir()
    (work / "person.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"name": {"type": "string"}}})
    )
    env = cli_env(DATAGEMS_DATA_DIR=str(data_dir))
    result = run_cli(generate_args("people.csv", 3), cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    job_id = JOB_LINE.search(result.stderr).group(1)
    assert f"job {job_id}: 3 records, kept in {data_dir};" in result.stderr
    assert stat.S_IMODE((work / "people.csv").stat().st_mode) == 0o644

    # From another directory, with the data dir named, the job is found.
    exported = run_cli(["export", job_id, "--out", "again.json"], cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE((tmp_path / "again.json").stat().st_mode) == 0o644
