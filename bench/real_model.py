"""Against a real model server (llama-cpp-python with SmolLM2-135M-Instruct, `make model`).

    python -m bench.real_model [--sizes 20] [--concurrency 2]

Three measurements, all through the same server on the server CPU:

- **records**: DataGems' record maker, as a job runs it (negotiation included, server defaults
  for sampling): accepted records per second, the acceptance rate, prompt tokens per accepted
  record and the structured-output form negotiation found.
- **client**: the first-attempt bodies of those records, replayed at the same concurrency by
  DataGems' gateway client (`InferenceClient.send`) and by a bare `httpx.AsyncClient` posting the
  same bytes, alternately twice; calls per second as a ratio. Temperature 0 makes a body's
  reply the same on both sides, so both ask the server for the same work.
- **variation**: every body shares its prefix (system prompt, instructions, schema) byte for byte
  and differs only in the last message. Replaying the prefix alone (every body identical) against
  the full bodies says what the per-record variation costs in tokens and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.machine import SERVER_CPU, pinned
from bench.report import Line, show
from bench.stack import Stack
from datagems_core.config.settings import load_settings
from datagems_core.datasets.prompts import variation_prompt
from datagems_core.datasets.record_maker import ModelRecordMaker, RecordSpec, open_record_maker
from datagems_core.inference.client import open_inference_client
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.inference.transport import request_headers
from datagems_core.inference.wire import StructuredForm, encode_message
from tests.support.model_server import ModelServer, start_model_server
from tests.support.schemas import CUSTOMER_SCHEMA

SPEC = RecordSpec(
    instructions="Fictional customers of a software shop.", schema=CUSTOMER_SCHEMA, seed=7
)
TARGET_RATIO = 0.95
ROUNDS = 2


def _gateway(server: ModelServer, concurrency: int, **parameters: Any) -> GatewayConfig:
    return GatewayConfig(
        base_url=server.openai_base,
        model=server.model,
        concurrency=concurrency,
        parameters=parameters,
        timeout_seconds=300.0,
    )


async def _make_records(
    server: ModelServer, total: int, concurrency: int
) -> tuple[dict[str, Any], list[bytes], list[bytes]]:
    """Records as a job makes them; returns figures, the full bodies and the prefix-only ones."""
    settings = load_settings(None)
    async with open_record_maker(
        settings=settings, spec=SPEC, gateway=_gateway(server, concurrency)
    ) as maker:
        assert isinstance(maker, ModelRecordMaker)
        started = time.perf_counter()
        results = await asyncio.gather(*(maker.make_record(i) for i in range(total)))
        seconds = time.perf_counter() - started
        form: StructuredForm | None = maker.client.negotiation.confirmed_form
    accepted = [r for r in results if r.ok]
    figures = {
        "seconds": seconds,
        "accepted": len(accepted),
        "calls": sum(r.attempts for r in results),
        "prompt_tokens": sum(r.usage.prompt for r in results),
        "form": form,
        "errors": sorted({r.error or "" for r in results if not r.ok})[:3],
    }
    return figures, *_bodies(maker, total, form or "prompt")


def _bodies(
    maker: ModelRecordMaker, total: int, form: StructuredForm
) -> tuple[list[bytes], list[bytes]]:
    template = maker.template
    full = [
        _greedy(
            template.render(
                [encode_message("user", variation_prompt(i, maker.variations.sample(i)))], form
            )
        )
        for i in range(total)
    ]
    prefix = [_greedy(template.render([], form))] * total
    return full, prefix


def _greedy(body: bytes) -> bytes:
    """The body at temperature 0, so a replay gets the same reply on both sides."""
    value = json.loads(body)
    value.update(temperature=0.0, seed=1)
    return json.dumps(value, ensure_ascii=False).encode()


async def _replay_datagems(
    server: ModelServer, bodies: Sequence[bytes], concurrency: int
) -> dict[str, Any]:
    async with open_inference_client(
        settings=load_settings(None), gateway=_gateway(server, concurrency)
    ) as client:
        started = time.perf_counter()
        replies = await asyncio.gather(*(client.send(body) for body in bodies))
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "calls": len(replies),
        "prompt_tokens": sum(r.usage.prompt for r in replies),
        "completion_tokens": sum(r.usage.completion for r in replies),
    }


async def _replay_bare(
    server: ModelServer, bodies: Sequence[bytes], concurrency: int
) -> dict[str, Any]:
    gateway = _gateway(server, concurrency)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    completion = 0
    limits = httpx.Limits(max_connections=concurrency + 8)

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal completion
        while not queue.empty():
            body = queue.get_nowait()
            response = await http.post(gateway.url, content=body)
            response.raise_for_status()
            completion += int(response.json()["usage"]["completion_tokens"])

    async with httpx.AsyncClient(
        headers=dict(request_headers(gateway)), timeout=300.0, limits=limits
    ) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "calls": len(bodies), "completion_tokens": completion}


def _rate(figures: dict[str, Any]) -> float:
    return float(figures["calls"] / figures["seconds"]) if figures["seconds"] else 0.0


async def measure(server: ModelServer, total: int, concurrency: int) -> list[Line]:
    lines: list[Line] = []
    records, full, prefix = await _make_records(server, total, concurrency)
    accepted = records["accepted"]
    lines.append(
        show(
            Line(
                "real model",
                f"N={total} records c={concurrency}",
                {
                    "accepted": f"{accepted}/{total}",
                    "acceptance": f"{accepted / total:.0%}",
                    "rec/s": f"{accepted / records['seconds']:.2f}",
                    "calls": str(records["calls"]),
                    "prompt tok/accepted": f"{records['prompt_tokens'] / max(accepted, 1):.0f}",
                    "form": str(records["form"]),
                },
                raw=records,
            )
        )
    )
    await _replay_datagems(server, full[: min(4, total)], concurrency)  # warm the server
    ours: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    for round_ in range(ROUNDS):  # ABBA: neither side always runs on a warmer server
        if round_ % 2 == 0:
            ours.append(await _replay_datagems(server, full, concurrency))
            bare.append(await _replay_bare(server, full, concurrency))
        else:
            bare.append(await _replay_bare(server, full, concurrency))
            ours.append(await _replay_datagems(server, full, concurrency))
    ours_rate = sum(f["calls"] for f in ours) / sum(f["seconds"] for f in ours)
    bare_rate = sum(f["calls"] for f in bare) / sum(f["seconds"] for f in bare)
    ratio = ours_rate / bare_rate if bare_rate else 0.0
    lines.append(
        show(
            Line(
                "real model",
                f"N={total} client vs bare c={concurrency}",
                {
                    "calls/s": f"{ours_rate:.2f}",
                    "bare calls/s": f"{bare_rate:.2f}",
                    "ratio": f"{ratio:.3f}",
                    "per round": "/".join(
                        f"{_rate(o) / _rate(b):.2f}" for o, b in zip(ours, bare, strict=True)
                    ),
                    "completion tok": f"{sum(f['completion_tokens'] for f in ours)}"
                    f" vs {sum(f['completion_tokens'] for f in bare)}",
                },
                target=f">= {TARGET_RATIO} of bare",
                met=ratio >= TARGET_RATIO,
                raw={"ours": ours, "bare": bare},
            )
        )
    )
    alone = await _replay_datagems(server, prefix, concurrency)
    with_variation = ours[-1]
    full_tokens = with_variation["prompt_tokens"] / with_variation["calls"]
    prefix_tokens = alone["prompt_tokens"] / alone["calls"]
    lines.append(
        show(
            Line(
                "real model",
                f"N={total} prefix vs variation",
                {
                    "prompt tok/call": f"{full_tokens:.0f}",
                    "shared prefix tok": f"{prefix_tokens:.0f} ({prefix_tokens / full_tokens:.0%})",
                    "s/call with variation": f"{1 / _rate(with_variation):.2f}",
                    "s/call prefix only": f"{1 / _rate(alone):.2f}",
                },
                raw={"prefix": alone, "full": with_variation},
            )
        )
    )
    return lines


def run(
    stack: Stack | None = None, *, sizes: Sequence[int] = (20,), concurrency: int = 2
) -> list[Line]:
    root = stack.case_dir("real-model") if stack else Path(tempfile.mkdtemp(prefix="real-model-"))
    with pinned(SERVER_CPU):
        server = start_model_server(root / "llama_cpp.log")
    try:
        lines: list[Line] = []
        for total in sizes:
            lines += asyncio.run(measure(server, total, concurrency))
        return lines
    finally:
        server.process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20", help="comma-separated record counts")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    run(sizes=[int(s) for s in args.sizes.split(",")], concurrency=args.concurrency)


if __name__ == "__main__":
    main()
