"""The machine and run a benchmark states: CPU, cores, Python, library versions, git commit, date.

Also where each process runs: on two or more cores the gateway (and the servers the client talks
to) get CPU 1 and the client CPU 0, so the client's figures are its own.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CLIENT_CPU = 0
SERVER_CPU = 1
_PACKAGES = (
    "prefect",
    "httpx",
    "httpx-aiohttp",
    "aiohttp",
    "fastapi",
    "uvicorn",
    "pydantic",
    "polars",
    "pyarrow",
    "orjson",
)


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def can_pin() -> bool:
    """Pinning apart needs the two CPUs the plan names."""
    cpus = set(usable_cpus())
    return {CLIENT_CPU, SERVER_CPU} <= cpus


@contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Run the block (and the processes it starts) on `cpu`; no-op when pinning is not possible."""
    if cpu is None or not can_pin():
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin_current_process(cpu: int) -> bool:
    """Run this process on `cpu` only, when the machine has it; True when pinned."""
    if not can_pin():
        return False
    os.sched_setaffinity(0, {cpu})
    return True


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """The commit the run is on, with `+dirty` when the tree has uncommitted changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return sha + ("+dirty" if dirty else "")


def versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def describe_machine() -> dict[str, Any]:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "usable_cpus": usable_cpus(),
        "memory_gb": round(memory_gb, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": versions(),
        "git": git_commit(),
        "pinning": (
            f"client on CPU {CLIENT_CPU}; gateway, Prefect server and API server on CPU {SERVER_CPU}"
            if can_pin()
            else "not pinned (fewer than two usable CPUs)"
        ),
    }


def machine_lines(machine: dict[str, Any] | None = None) -> list[str]:
    """The machine and run, as the first lines of every benchmark's output."""
    m = machine or describe_machine()
    libs = " ".join(f"{k}={v}" for k, v in m["versions"].items())
    return [
        f"machine: {m['cpu']}, {m['cores']} cores (usable {m['usable_cpus']}), "
        f"{m['memory_gb']} GB, {m['os']}",
        f"run: {m['date']}, git {m['git']}, {m['python']} ({sys.executable})",
        f"libs: {libs}",
        f"pinning: {m['pinning']}",
    ]
