"""Every benchmark in one run (`make bench`): the machine, then one line per case.

    python -m bench.run_all [--doc docs/benchmarks.md] [--only throughput,faults] [--smoke]

Starts the fake gateway and a Prefect server once, runs throughput, faults, memory, resume,
exports, API latency, the real model server case, the gates, usage accounting and the scale-out
case (its own PostgreSQL, Prefect server and workers), and prints each case's figures and whether it met its
target. `--doc` writes the results into that Markdown file between its results markers.
`--smoke` runs every case at a tiny N (what the test suite does): checks the bench, measures
nothing worth reading.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    accounting,
    api_latency,
    exports,
    faults,
    gates,
    memory,
    real_model,
    resume,
    scale_out,
    throughput,
)
from bench.machine import describe_machine, machine_lines
from bench.report import Line, markdown_table
from bench.stack import Stack, open_stack

Bench = Callable[..., list[Line]]
BENCHES: dict[str, Bench] = {
    "throughput": throughput.run,
    "faults": faults.run,
    "memory": memory.run,
    "resume": resume.run,
    "exports": exports.run,
    "api": api_latency.run,
    "real_model": real_model.run,
    "gates": gates.run,
    "accounting": accounting.run,
    "scale_out": scale_out.run,
}
FULL: dict[str, dict[str, Any]] = {
    "throughput": {"sizes": (1000, 10000)},
    "faults": {"sizes": (2000,)},
    "memory": {"sizes": (10000, 100000)},
    "resume": {"sizes": (2000,)},
    "exports": {"sizes": (1_000_000,)},
    "api": {"sizes": (1000,)},
    "real_model": {"sizes": (20,), "concurrency": 2},
    "gates": {"sizes": (10000,)},
    "accounting": {"sizes": (10000,)},
    "scale_out": {"sizes": (20000,), "concurrency": 32, "latency_ms": 200.0},
}
SMOKE: dict[str, dict[str, Any]] = {
    "throughput": {"sizes": (30,), "concurrency": 8, "latency_ms": 20.0},
    "faults": {"sizes": (40,), "concurrency": 8, "latency_ms": 20.0},
    "memory": {"sizes": (40, 80), "concurrency": 8},
    "resume": {"sizes": (400,), "concurrency": 4, "latency_ms": 50.0},
    "exports": {"sizes": (2500,), "block_records": 500},
    "api": {"sizes": (20,), "clients": 4, "requests": 40},
    "real_model": {"sizes": (2,), "concurrency": 2},
    "gates": {"sizes": (40,), "concurrency": 8, "latency_ms": 20.0},
    "accounting": {"sizes": (30,), "concurrency": 8, "latency_ms": 20.0},
    "scale_out": {"sizes": (60,), "concurrency": 8, "latency_ms": 50.0},
}
START_MARK = "<!-- bench results: start -->"
END_MARK = "<!-- bench results: end -->"


def run_benches(
    stack: Stack, *, names: list[str], profile: dict[str, dict[str, Any]]
) -> list[Line]:
    lines: list[Line] = []
    for name in names:
        lines += BENCHES[name](stack, **profile[name])
    return lines


def write_doc(
    path: Path, *, command: str, header: list[str], lines: list[Line], minutes: float
) -> None:
    """Replace the results block of `path` (between its markers) with this run's results."""
    block = "\n".join(
        [
            START_MARK,
            f"Produced by `{command}` in {minutes:.1f} minutes.",
            "",
            "```",
            *header,
            "```",
            "",
            markdown_table(lines),
            END_MARK,
        ]
    )
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{START_MARK}\n{END_MARK}\n"
    if START_MARK not in text or END_MARK not in text:
        raise SystemExit(f"{path} has no results markers ({START_MARK} ... {END_MARK})")
    head, rest = text.split(START_MARK, 1)
    tail = rest.split(END_MARK, 1)[1]
    path.write_text(head + block + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--smoke", action="store_true", help="tiny N: check the bench runs")
    parser.add_argument("--doc", type=Path, help="write the results into this Markdown file")
    parser.add_argument("--root", type=Path, help="where cases keep data and logs (default: temp)")
    parser.add_argument("--prefect-api-url", help="use this running Prefect server")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHES)
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown bench {sorted(unknown)}: choose from {', '.join(BENCHES)}")
    header = machine_lines(describe_machine())
    for text in header:
        print(text, flush=True)
    root = args.root or Path(tempfile.mkdtemp(prefix="datagems-bench-"))
    print(f"data and logs: {root}", flush=True)
    started = time.monotonic()
    needs_prefect = bool({"throughput", "faults", "memory", "resume", "accounting"} & set(names))
    with open_stack(
        root=root, prefect_api_url=args.prefect_api_url, with_prefect=needs_prefect
    ) as stack:
        lines = run_benches(stack, names=names, profile=SMOKE if args.smoke else FULL)
    minutes = (time.monotonic() - started) / 60
    missed = [line for line in lines if line.target and not line.met]
    print(f"done in {minutes:.1f} min; {len(missed)} target(s) missed", flush=True)
    for line in missed:
        print(f"  missed: {line.bench} {line.case}: {line.target}")
    if args.doc:
        command = "python -m bench.run_all" + (f" --only {args.only}" if args.only else "")
        write_doc(args.doc, command=command, header=header, lines=lines, minutes=minutes)
        print(f"results written to {args.doc}")


if __name__ == "__main__":
    main()
