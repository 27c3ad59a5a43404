"""What usage accounting costs: the same job with it and without it, side by side.

    python -m bench.accounting [--sizes 10000]

Usage accounting is the ledger write whenever the job's record is written, the spend guard
checked before every candidate (the job's share of a token budget, tightened to the owner's
monthly quota read when each shard starts) and the token sums kept on the shard records. The
"on" run has all of it (`maxTokens` far above what the job spends and a monthly token quota far
above it too, so neither stops the job); the "off" run replaces the ledger write and the guard
with no-ops in its process (`bench.job_runner --no-accounting`). Both run N records against the
same gateway (C=64, L=200 ms) with a task per checkpoint batch. Figure: accepted records per
second of "on" as a ratio to "off" (target: at least 0.98, within 2 %), with client CPU per
record of each for the part wall time cannot show.
"""

from __future__ import annotations

from typing import Any

from bench.report import Line, ms_per, rate, show
from bench.stack import Stack
from bench.throughput import figures
from bench.workload import CONCURRENCY, LATENCY_MS

RATIO_TARGET = 0.98
AMPLE = 10**12  # tokens: a budget and a quota the job never reaches


def _job(stack: Stack, name: str, n: int, concurrency: int, *extra: str, **env: str) -> Any:
    args = ["--records", str(n), "--gateway", stack.gateway.openai_base]
    args += ["--concurrency", str(concurrency), *extra]
    return stack.run_job_case(name, args, DATAGEMS_RECORD_TASKS_MAX="0", **env)


def run(
    stack: Stack,
    *,
    sizes: tuple[int, ...] = (10000,),
    concurrency: int = CONCURRENCY,
    latency_ms: float = LATENCY_MS,
) -> list[Line]:
    limit = concurrency / (latency_ms / 1000)
    stack.gateway.configure(
        latency_ms=latency_ms, jitter_ms=0, rate_500=0, rate_429=0, rate_non_json=0
    )
    lines = []
    for n in sizes:
        off = _job(stack, f"accounting-off-{n}", n, concurrency, "--no-accounting")
        on = _job(
            stack,
            f"accounting-on-{n}",
            n,
            concurrency,
            "--max-tokens",
            str(AMPLE),
            DATAGEMS_QUOTA_MONTHLY_TOKENS=str(AMPLE),
        )
        off_rate = rate(int(off["valid"]), float(off["seconds"]))
        on_rate = rate(int(on["valid"]), float(on["seconds"]))
        ratio = on_rate / off_rate if off_rate else 0.0
        off_cpu = ms_per(float(off["cpu_s"]), n)
        on_cpu = ms_per(float(on["cpu_s"]), n)
        lines.append(
            show(
                Line(
                    "accounting",
                    f"N={n} accounting off",
                    figures(off, limit=limit, baseline_rate=None),
                    raw=off,
                )
            )
        )
        shown = figures(on, limit=limit, baseline_rate=None)
        shown["x off"] = f"{ratio:.3f}"
        shown["CPU x off"] = f"{on_cpu / off_cpu:.3f}" if off_cpu else "-"
        lines.append(
            show(
                Line(
                    "accounting",
                    f"N={n} accounting on",
                    shown,
                    target=f">= {RATIO_TARGET}x accounting off",
                    met=int(on["valid"]) == n == int(off["valid"]) and ratio >= RATIO_TARGET,
                    raw=on,
                )
            )
        )
    return lines


if __name__ == "__main__":
    from bench.standalone import run_standalone

    run_standalone("accounting", run, sizes_default="10000")
