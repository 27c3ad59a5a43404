"""Quality gates: their cost at scale, and candidates per accepted record against a noisy gateway.

    python -m bench.gates [--sizes 10000]

(a) The same N against the same gateway (C=64, L=200 ms), with the gates off (only the exact
duplicate check, which is always on) and on (lint, `uniqueFields: ["ticket_id"]`, exact and
near duplicates at 0.9): accepted records per second as a ratio to the gates-off run (target:
within 5 %). (b) A gateway whose replies are 15 % invalid (an empty object) and 15 % duplicates
of the record before: candidates per accepted record against the ideal 1 / (1 - 0.15 - 0.15)
(target: at most 1.1 x the ideal; re-asks repair some invalid replies, so below 1 is possible).
"""

from __future__ import annotations

import json
from typing import Any

from bench.report import Line, rate, show
from bench.stack import Stack
from bench.throughput import figures
from bench.workload import CONCURRENCY, LATENCY_MS

GATES_OFF = {"lint": False, "nearDuplicateThreshold": None}
GATES_ON = {"lint": True, "uniqueFields": ["ticket_id"], "nearDuplicateThreshold": 0.9}
NOISE = {"rate_invalid": 0.15, "rate_duplicate": 0.15}
RATIO_TARGET = 0.95
CANDIDATES_TARGET = 1.1


def _job(
    stack: Stack, name: str, n: int, concurrency: int, gates: dict[str, Any]
) -> dict[str, Any]:
    return stack.run_job_case(
        name,
        [
            "--records",
            str(n),
            "--gateway",
            stack.gateway.openai_base,
            "--concurrency",
            str(concurrency),
            "--gates",
            json.dumps(gates),
        ],
        DATAGEMS_RECORD_TASKS_MAX="0",  # a task per checkpoint batch, as jobs this size run
    )


def run(
    stack: Stack,
    *,
    sizes: tuple[int, ...] = (10000,),
    concurrency: int = CONCURRENCY,
    latency_ms: float = LATENCY_MS,
) -> list[Line]:
    limit = concurrency / (latency_ms / 1000)
    quiet = {
        "rate_500": 0,
        "rate_429": 0,
        "rate_non_json": 0,
        "rate_invalid": 0,
        "rate_duplicate": 0,
    }
    lines = []
    for n in sizes:
        stack.gateway.configure(latency_ms=latency_ms, jitter_ms=0, **quiet)
        off = _job(stack, f"gates-off-{n}", n, concurrency, GATES_OFF)
        off_rate = rate(int(off["valid"]), float(off["seconds"]))
        lines.append(
            show(
                Line(
                    "gates",
                    f"N={n} gates off",
                    figures(off, limit=limit, baseline_rate=None),
                    raw=off,
                )
            )
        )
        on = _job(stack, f"gates-on-{n}", n, concurrency, GATES_ON)
        shown = figures(on, limit=limit, baseline_rate=None)
        ratio = rate(int(on["valid"]), float(on["seconds"])) / off_rate if off_rate else 0.0
        shown["x gates off"] = f"{ratio:.3f}"
        shown["rejected"] = str(on.get("rejected") or {})
        lines.append(
            show(
                Line(
                    "gates",
                    f"N={n} gates on",
                    shown,
                    target=f">= {RATIO_TARGET}x gates off",
                    met=int(on["valid"]) == n and ratio >= RATIO_TARGET,
                    raw=on,
                )
            )
        )
        stack.gateway.configure(**NOISE)
        noisy = _job(stack, f"gates-noisy-{n}", n, concurrency, GATES_ON)
        candidates = int(noisy["valid"]) + int(noisy["failed"])
        per_accepted = candidates / max(int(noisy["valid"]), 1)
        ideal = 1 / (1 - NOISE["rate_invalid"] - NOISE["rate_duplicate"])
        shown = figures(noisy, limit=limit, baseline_rate=None)
        shown.update(
            {
                "candidates": str(candidates),
                "candidates/accepted": f"{per_accepted:.3f}",
                "ideal": f"{ideal:.3f}",
                "x ideal": f"{per_accepted / ideal:.3f}",
                "calls": str(noisy["gateway"]["requests"]),
                "rejected": str(noisy.get("rejected") or {}),
            }
        )
        lines.append(
            show(
                Line(
                    "gates",
                    f"N={n} 15% invalid 15% duplicate",
                    shown,
                    target=f"all {n} accepted, <= {CANDIDATES_TARGET}x ideal candidates",
                    met=int(noisy["valid"]) == n and per_accepted <= CANDIDATES_TARGET * ideal,
                    raw=noisy,
                )
            )
        )
    stack.gateway.configure(**quiet)
    return lines


if __name__ == "__main__":
    from bench.standalone import run_standalone

    run_standalone("gates", run, sizes_default="10000")
