"""Peak memory of a job against N, with the built-in mock gateway: it must not grow with N.

    python -m bench.memory [--sizes 10000,100000]

Each N runs in a fresh process through the `generate-dataset` flow (its default mode for N, at
64 records in flight). Peak RSS is the process' high-water mark; "at start" is the RSS with
DataGems and Prefect imported, before the job.
"""

from __future__ import annotations

from bench.report import Line, ms_per, rate, show
from bench.stack import Stack

RSS_TARGET_MB = 250.0


def run(
    stack: Stack, *, sizes: tuple[int, ...] = (10000, 100000), concurrency: int = 64
) -> list[Line]:
    lines = []
    first_peak: float | None = None
    for n in sizes:
        result = stack.run_job_case(
            f"memory-{n}",
            ["--records", str(n), "--mock", "--concurrency", str(concurrency)],
            DATAGEN_MOCK_INFERENCE_API="true",
        )
        peak = float(result["peak_rss_mb"])
        shown = {
            "peak RSS MB": f"{peak:.0f}",
            "RSS at start MB": f"{float(result['rss_before_mb']):.0f}",
        }
        if first_peak is not None:
            shown[f"x peak at N={sizes[0]}"] = f"{peak / first_peak:.2f}"
        shown["rec/s"] = f"{rate(int(result['valid']), float(result['seconds'])):.0f}"
        shown["client CPU ms/rec"] = f"{ms_per(float(result['cpu_s']), n):.2f}"
        shown["Prefect server CPU s"] = f"{float(result['prefect_cpu_s']):.1f}"
        shown["valid"] = f"{result['valid']}/{n}"
        line = Line("memory", f"N={n} mock gateway", shown, raw=result)
        if n == max(sizes):
            line.target = f"<= {RSS_TARGET_MB:.0f} MB"
            line.met = peak <= RSS_TARGET_MB
        first_peak = first_peak or peak
        lines.append(show(line))
    return lines


if __name__ == "__main__":
    from bench.standalone import run_standalone

    run_standalone("memory", run, sizes_default="10000,100000")
