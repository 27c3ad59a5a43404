"""The limit baseline: a bare asyncio loop on DataGems' HTTP stack, one call per record.

httpx on the aiohttp transport (as `datagems_core.inference.client` builds it), `concurrency`
workers each posting one chat body per record, decoding the reply and its JSON content. With
`max_attempts > 1` it retries as DataGems does: 429 and 5xx and unusable bodies back off with
full jitter, never sooner than the gateway's Retry-After. No schema validation, no checkpoints,
no Prefect: what any client would have to do at least.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

from bench.cases import emit_result
from bench.measure import Span
from bench.workload import INSTRUCTIONS
from datagems_core.datasets.prompts import RECORD_SYSTEM_PROMPT
from tests.support.schemas import TICKET_SCHEMA

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


@dataclass
class BaselineResult:
    valid: int = 0
    failed: int = 0
    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def _body(index: int) -> bytes:
    return orjson.dumps(
        {
            "messages": [
                {"role": "system", "content": RECORD_SYSTEM_PROMPT},
                {"role": "user", "content": INSTRUCTIONS},
                {
                    "role": "user",
                    "content": "Generate one record:\n" + orjson.dumps(TICKET_SCHEMA).decode(),
                },
                {"role": "user", "content": f"This is record #{index + 1}."},
            ],
            "model": "bench-model",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "record", "schema": TICKET_SCHEMA, "strict": False},
            },
        }
    )


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


async def run_baseline(
    *, url: str, total: int, concurrency: int, max_attempts: int = 1
) -> BaselineResult:
    """Make `total` records against `url` with `concurrency` calls in flight."""
    result = BaselineResult()
    pool = concurrency + 8
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    next_index = iter(range(total))

    def count(outcome: str) -> None:
        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1

    async def one(http: httpx.AsyncClient, index: int) -> bool:
        body = _body(index)
        for attempt in range(1, max_attempts + 1):
            result.calls += 1
            retry_after = None
            response = await http.post(url, content=body)
            if response.status_code == 200:
                try:
                    reply = orjson.loads(response.content)
                    record = orjson.loads(reply["choices"][0]["message"]["content"])
                except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
                    count("unusable body")
                else:
                    if isinstance(record, dict):
                        return True
                    count("not an object")
            else:
                count(str(response.status_code))
                retry_after = _retry_after(response)
            if attempt < max_attempts:
                delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
                await asyncio.sleep(max(delay, retry_after or 0.0))
        return False

    async def worker(http: httpx.AsyncClient) -> None:
        for index in next_index:
            if await one(http, index):
                result.valid += 1
            else:
                result.failed += 1

    async with httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits, trust_env=False),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        timeout=httpx.Timeout(120, connect=10),
        trust_env=False,
    ) as http:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker(http))
    return result


async def _measured(args: argparse.Namespace) -> dict[str, Any]:
    span = Span.start()
    result = await run_baseline(
        url=args.url,
        total=args.records,
        concurrency=args.concurrency,
        max_attempts=args.max_attempts,
    )
    return {
        "records": args.records,
        "valid": result.valid,
        "failed": result.failed,
        "calls": result.calls,
        "outcomes": result.outcomes,
        **span.finish(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the chat-completions URL")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-attempts", type=int, default=1)
    emit_result(asyncio.run(_measured(parser.parse_args())))


if __name__ == "__main__":
    main()
