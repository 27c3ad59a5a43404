"""Wall time, CPU and peak memory of the measured part of a one-case child process."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import Any


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process' peak resident set so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return 0.0
    return pages * resource.getpagesize() / 2**20


@dataclass
class Span:
    """Started before the measured work; `finish()` gives the figures since."""

    wall0: float
    cpu0: float
    children_cpu0: float
    rss0: float

    @classmethod
    def start(cls) -> Span:
        return cls(
            wall0=time.perf_counter(),
            cpu0=_cpu(resource.RUSAGE_SELF),
            children_cpu0=_cpu(resource.RUSAGE_CHILDREN),
            rss0=current_rss_mb(),
        )

    def finish(self) -> dict[str, Any]:
        return {
            "seconds": time.perf_counter() - self.wall0,
            "cpu_s": _cpu(resource.RUSAGE_SELF) - self.cpu0,
            "children_cpu_s": _cpu(resource.RUSAGE_CHILDREN) - self.children_cpu0,
            "rss_before_mb": round(self.rss0, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
