"""One line per case: its figures and ratios side by side, and whether it met its target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Line:
    bench: str
    case: str
    figures: dict[str, str]
    target: str | None = None
    met: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        parts = [f"{self.bench:<10} {self.case:<26}"]
        parts += [f"{name} {value}" for name, value in self.figures.items()]
        if self.target:
            parts.append(f"[target {self.target}: {'met' if self.met else 'MISSED'}]")
        return " | ".join(parts)


def show(line: Line) -> Line:
    print(line.render(), flush=True)
    return line


def rate(records: int, seconds: float) -> float:
    return records / seconds if seconds > 0 else 0.0


def ms_per(seconds: float, records: int) -> float:
    return seconds * 1000 / records if records else 0.0


def markdown_table(lines: list[Line]) -> str:
    """The lines as a Markdown table (bench, case, figures, target)."""
    rows = ["| bench | case | figures | target |", "|---|---|---|---|"]
    for line in lines:
        figures = "; ".join(f"{k} {v}" for k, v in line.figures.items())
        target = f"{line.target}: {'met' if line.met else '**missed**'}" if line.target else ""
        rows.append(f"| {line.bench} | {line.case} | {figures} | {target} |")
    return "\n".join(rows)
