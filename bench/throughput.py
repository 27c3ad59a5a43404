"""Throughput against the physical limit C/L: the bare baseline, task per record, task per batch.

    python -m bench.throughput [--sizes 1000,10000] [--prefect-api-url URL]

At C requests in flight and latency L no client beats C/L records per second. For each N the
three clients run side by side against the same gateway process: (a) the bare asyncio baseline
on DataGems' HTTP stack, (b) DataGems' `generate-dataset` flow with a Prefect task per record
(`DATAGEMS_RECORD_TASKS_MAX` >= N), (c) the flow with a task per checkpoint batch
(`DATAGEMS_RECORD_TASKS_MAX=0`).
"""

from __future__ import annotations

from typing import Any

from bench.report import Line, ms_per, rate, show
from bench.stack import Stack
from bench.workload import CONCURRENCY, LATENCY_MS

PER_RECORD_TARGET = (1000, 0.80)
BATCH_TARGET = (10000, 0.95)
BATCH_CPU_MS_TARGET = 0.5


def figures(result: dict[str, Any], *, limit: float, baseline_rate: float | None) -> dict[str, str]:
    n = int(result["records"])
    per_s = rate(int(result["valid"]), float(result["seconds"]))
    shown = {
        "rec/s": f"{per_s:.1f}",
        "x limit": f"{per_s / limit:.2f}",
    }
    if baseline_rate:
        shown["x baseline"] = f"{per_s / baseline_rate:.2f}"
    shown["client CPU ms/rec"] = f"{ms_per(float(result['cpu_s']), n):.2f}"
    shown["peak RSS MB"] = f"{float(result['peak_rss_mb']):.0f}"
    if "prefect_cpu_s" in result:
        shown["Prefect server CPU s"] = f"{float(result['prefect_cpu_s']):.1f}"
    shown["valid"] = f"{result['valid']}/{n}"
    gateway = result.get("gateway") or {}
    if gateway:
        shown["mean in flight"] = f"{gateway.get('mean_in_flight', 0):.1f}"
    return shown


def run(
    stack: Stack,
    *,
    sizes: tuple[int, ...] = (1000, 10000),
    concurrency: int = CONCURRENCY,
    latency_ms: float = LATENCY_MS,
    per_record_sizes: tuple[int, ...] | None = None,
) -> list[Line]:
    """One line per (N, client), plus the limit. `per_record_sizes` limits mode (b) to those N."""
    stack.gateway.configure(
        latency_ms=latency_ms, jitter_ms=0, rate_500=0, rate_429=0, rate_non_json=0
    )
    limit = concurrency / (latency_ms / 1000)
    lines = [
        show(
            Line(
                "throughput",
                f"limit C/L (C={concurrency})",
                {"rec/s": f"{limit:.0f}", "L": f"{latency_ms:g} ms"},
            )
        )
    ]
    job_args = ["--gateway", stack.gateway.openai_base, "--concurrency", str(concurrency)]
    for n in sizes:
        base = stack.run_baseline_case(
            f"baseline-{n}", ["--records", str(n), "--concurrency", str(concurrency)]
        )
        base_rate = rate(int(base["valid"]), float(base["seconds"]))
        lines.append(
            show(
                Line(
                    "throughput",
                    f"N={n} baseline",
                    figures(base, limit=limit, baseline_rate=None),
                    raw=base,
                )
            )
        )
        if per_record_sizes is None or n in per_record_sizes:
            result = stack.run_job_case(
                f"per-record-{n}",
                ["--records", str(n), *job_args],
                DATAGEMS_RECORD_TASKS_MAX=str(n),
            )
            line = Line(
                "throughput",
                f"N={n} task per record",
                figures(result, limit=limit, baseline_rate=base_rate),
                raw=result,
            )
            if n == PER_RECORD_TARGET[0]:
                line.target = f">= {PER_RECORD_TARGET[1]:.2f}x baseline"
                line.met = _ratio(result, base_rate) >= PER_RECORD_TARGET[1]
            lines.append(show(line))
        result = stack.run_job_case(
            f"batch-{n}", ["--records", str(n), *job_args], DATAGEMS_RECORD_TASKS_MAX="0"
        )
        line = Line(
            "throughput",
            f"N={n} task per batch",
            figures(result, limit=limit, baseline_rate=base_rate),
            raw=result,
        )
        if n == BATCH_TARGET[0]:
            cpu_ms = ms_per(float(result["cpu_s"]), n)
            line.target = (
                f">= {BATCH_TARGET[1]:.2f}x baseline and <= {BATCH_CPU_MS_TARGET} ms CPU/rec"
            )
            line.met = (
                _ratio(result, base_rate) >= BATCH_TARGET[1] and cpu_ms <= BATCH_CPU_MS_TARGET
            )
        lines.append(show(line))
    return lines


def _ratio(result: dict[str, Any], base_rate: float) -> float:
    return rate(int(result["valid"]), float(result["seconds"])) / base_rate if base_rate else 0.0


if __name__ == "__main__":
    from bench.standalone import run_standalone

    run_standalone("throughput", run, sizes_default="1000,10000")
