"""One-case children: each benchmark case runs in a process of its own and hands back its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.machine import REPO, pinned
from tests.support.processes import child_env

RESULT_MARK = "BENCH-RESULT "


def emit_result(result: dict[str, Any]) -> None:
    """How a one-case child hands its figures to the parent: one marked JSON line on stdout."""
    print(RESULT_MARK + json.dumps(result), flush=True)


def run_child(
    module: str,
    args: Sequence[str],
    *,
    cpu: int | None,
    env: dict[str, str] | None = None,
    log_path: Path,
    timeout: float = 900,
) -> dict[str, Any]:
    """Run `python -m module args...` on `cpu` and return the result it emitted."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with pinned(cpu):
        completed = subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            env=child_env(env),
            cwd=REPO,
            timeout=timeout,
            check=False,
        )
    log_path.write_text(completed.stdout + "\n--- stderr ---\n" + completed.stderr)
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return result
    tail = "\n".join(completed.stderr.splitlines()[-25:])
    raise RuntimeError(
        f"bench case {module} {' '.join(args)} exited {completed.returncode} without a result "
        f"(log: {log_path}):\n{tail}"
    )
