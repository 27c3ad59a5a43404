"""Throughput under gateway faults: 5 % 500, 5 % 429 (Retry-After 1) and 2 % non-JSON bodies.

    python -m bench.faults [--sizes 2000]

Each fault runs the baseline with the same retry policy (5 attempts, full-jitter backoff from
0.5 s, never sooner than Retry-After) and DataGems' flow (its default mode for N), against the
same gateway at C=64, L=200 ms. Records/s and valid records out of N.
"""

from __future__ import annotations

from typing import Any

from bench.report import Line, rate, show
from bench.stack import Stack
from bench.throughput import figures
from bench.workload import CONCURRENCY, LATENCY_MS

FAULTS: dict[str, dict[str, Any]] = {
    "5% 500": {"rate_500": 0.05},
    "5% 429 Retry-After 1": {"rate_429": 0.05, "retry_after": "1"},
    "2% non-JSON": {"rate_non_json": 0.02},
}
MAX_ATTEMPTS = 5
RATIO_TARGET = 0.8


def run(
    stack: Stack,
    *,
    sizes: tuple[int, ...] = (2000,),
    concurrency: int = CONCURRENCY,
    latency_ms: float = LATENCY_MS,
) -> list[Line]:
    limit = concurrency / (latency_ms / 1000)
    lines = []
    for n in sizes:
        for name, fault in FAULTS.items():
            stack.gateway.configure(
                **{
                    "latency_ms": latency_ms,
                    "jitter_ms": 0,
                    "rate_500": 0,
                    "rate_429": 0,
                    "rate_non_json": 0,
                    **fault,
                }
            )
            base = stack.run_baseline_case(
                f"faults-baseline-{n}",
                [
                    "--records",
                    str(n),
                    "--concurrency",
                    str(concurrency),
                    "--max-attempts",
                    str(MAX_ATTEMPTS),
                ],
            )
            base_rate = rate(int(base["valid"]), float(base["seconds"]))
            shown = figures(base, limit=limit, baseline_rate=None)
            shown["calls"] = str(base["calls"])
            lines.append(show(Line("faults", f"{name} N={n} baseline", shown, raw=base)))
            result = stack.run_job_case(
                f"faults-datagems-{n}",
                [
                    "--records",
                    str(n),
                    "--gateway",
                    stack.gateway.openai_base,
                    "--concurrency",
                    str(concurrency),
                ],
            )
            shown = figures(result, limit=limit, baseline_rate=base_rate)
            shown["calls"] = str(result["gateway"]["requests"])
            if result.get("reasons"):
                shown["failure reasons"] = str(result["reasons"])
            ratio = rate(int(result["valid"]), float(result["seconds"])) / base_rate
            lines.append(
                show(
                    Line(
                        "faults",
                        f"{name} N={n} DataGems",
                        shown,
                        target=f"all {n} valid and >= {RATIO_TARGET}x baseline",
                        met=int(result["valid"]) == n and ratio >= RATIO_TARGET,
                        raw=result,
                    )
                )
            )
    stack.gateway.configure(rate_500=0, rate_429=0, rate_non_json=0)
    return lines


if __name__ == "__main__":
    from bench.standalone import run_standalone

    run_standalone("faults", run, sizes_default="2000")
