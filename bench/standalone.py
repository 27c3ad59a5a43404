"""Run one benchmark module on its own: `python -m bench.<name> [--sizes ...]`."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.machine import machine_lines
from bench.report import Line
from bench.stack import open_stack


def parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())


def run_standalone(
    name: str,
    run: Callable[..., list[Line]],
    *,
    sizes_default: str,
    with_prefect: bool = True,
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}")
    parser.add_argument("--sizes", default=sizes_default, help="comma-separated record counts")
    parser.add_argument("--root", type=Path, help="where cases keep data and logs (default: temp)")
    parser.add_argument("--prefect-api-url", help="use this running Prefect server")
    args = parser.parse_args()
    for text in machine_lines():
        print(text)
    root = args.root or Path(tempfile.mkdtemp(prefix=f"datagems-bench-{name}-"))
    print(f"data and logs: {root}")
    options: dict[str, Any] = {"sizes": parse_sizes(args.sizes)}
    with open_stack(
        root=root, prefect_api_url=args.prefect_api_url, with_prefect=with_prefect
    ) as stack:
        run(stack, **options)
