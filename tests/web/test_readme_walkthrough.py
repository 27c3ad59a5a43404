"""The README's REST walkthrough, pasted as a whole into a shell, against `datagems up`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl

from tests.test_readme import walkthrough_script
from tests.web.conftest import Site

DEFAULT_API = "API=http://127.0.0.1:3000"


def test_the_rest_walkthrough_runs_pasted_as_a_whole(site: Site, tmp_path: Path):
    script = walkthrough_script()
    assert DEFAULT_API in script.splitlines()
    script = script.replace(DEFAULT_API, f"API={site.url}")
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{site.log()[-3000:]}"
    assert result.stderr == "", result.stderr
    finished = [line for line in result.stdout.splitlines() if line.startswith("succeeded ")]
    assert len(finished) == 1, result.stdout
    assert finished[0].startswith("succeeded 100 ok, 0 failed of 100 http://127.0.0.1:")
    assert "/runs/flow-run/" in finished[0]  # prefectUrl
    assert pl.read_csv(tmp_path / "bank-tickets.csv").height == 100
    assert pl.read_parquet(tmp_path / "bank-tickets.parquet").height == 100
