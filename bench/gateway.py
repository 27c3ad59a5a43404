"""A latency-injecting OpenAI-compatible gateway process for the benchmarks.

    python -m bench.gateway --port 8123 --latency-ms 200 [--jitter-ms 20] [--rate-500 0.05]

Serves `POST /v1/chat/completions` (and `/chat/completions`) and `GET /v1/models`. Each reply is
a schema-valid record for the schema in `response_format`, a different one for each request
number (made by the mock generator and kept, as a job's gates reject repeats), after `latency_ms`
plus or minus up to `jitter_ms`. Faults are exact shares of requests, spread evenly: `rate_500`,
`rate_429` (with `Retry-After: retry_after`), `rate_non_json` (a 200 with an HTML body),
`rate_invalid` (a record missing its fields) and `rate_duplicate` (the last record sent again).
Control endpoints:
`POST /__bench/config` (merge settings), `POST /__bench/reset` (zero the counters) and
`GET /__bench/stats` (requests, outcomes, answered, peak and mean requests in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiohttp import web

from bench.processes import ServerProcess, free_port, start_server
from datagems_core.inference.mock import MockUnsupported, generate_record

DEFAULTS: dict[str, Any] = {
    "latency_ms": 0.0,
    "jitter_ms": 0.0,
    "rate_500": 0.0,
    "rate_429": 0.0,
    "rate_non_json": 0.0,
    "rate_invalid": 0.0,
    "rate_duplicate": 0.0,
    "retry_after": "1",
}
_FAULTS = ("500", "429", "non_json", "invalid", "duplicate")


class Gateway:
    """The gateway's state: settings, counters and the reply pools per schema."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = {**DEFAULTS, **config}
        self.records: dict[tuple[bytes, int], str] = {}
        self.due: list[str] = []
        self.last_content = '{"text": "bench reply"}'
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.answered = 0
        self.outcomes: dict[str, int] = {}
        self.in_flight = 0
        self.peak_in_flight = 0
        self._busy = 0.0  # integral of in_flight over time
        self._first: float | None = None  # first request since the reset
        self._done = 0.0  # last reply since the reset
        self._last = time.perf_counter()

    def configure(self, changes: dict[str, Any]) -> None:
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise web.HTTPBadRequest(text=f"unknown gateway settings: {sorted(unknown)}")
        self.config.update(changes)

    def _tick(self, delta: int) -> None:
        now = time.perf_counter()
        self._busy += self.in_flight * (now - self._last)
        self._last = now
        if delta > 0 and self._first is None:
            self._first = now
        elif delta < 0:
            self._done = now
        self.in_flight += delta
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def outcome(self, n: int) -> str:
        # Request n gets a fault when that fault's running count steps up: exact, even shares.
        # Faults stepping up on the same request wait for the next requests, in turn.
        for fault in _FAULTS:
            rate = float(self.config[f"rate_{fault}"])
            if rate > 0 and math.floor((n + 1) * rate) > math.floor(n * rate):
                self.due.append(fault)
        return self.due.pop(0) if self.due else "ok"

    def content_for(self, schema: Any, n: int) -> str:
        # Kept per request number, so a baseline and a job over the same N see the same records.
        key = (orjson.dumps(schema, option=orjson.OPT_SORT_KEYS), n)
        content = self.records.get(key)
        if content is None:
            content = '{"text": "bench reply"}'
            if isinstance(schema, dict):
                try:
                    record = generate_record(schema, seed=99, index=n)
                except MockUnsupported:
                    record = None
                if record is not None:
                    if "ticket_id" in record:  # the workload's ids are distinct, as real ones
                        record["ticket_id"] = f"TCK-{n:07d}"
                    content = orjson.dumps(record).decode()
            self.records[key] = content
        return content

    def stats(self) -> dict[str, Any]:
        self._tick(0)
        elapsed = max(self._done - (self._first or self._done), 1e-9)
        return {
            "requests": self.requests,
            "answered": self.answered,
            "outcomes": dict(self.outcomes),
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            # Between the first request and the last reply: how full the client kept the pipe.
            "mean_in_flight": round(self._busy / elapsed, 2) if self._first else 0.0,
            "config": dict(self.config),
        }


def _schema_of(body: dict[str, Any]) -> Any:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    return fmt.get("schema")


def build_app(gateway: Gateway) -> web.Application:
    async def chat(request: web.Request) -> web.Response:
        n = gateway.requests
        gateway.requests += 1
        gateway._tick(1)
        try:
            raw = await request.read()
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return web.json_response({"error": {"message": "body is not JSON"}}, status=400)
            outcome = gateway.outcome(n)
            gateway.outcomes[outcome] = gateway.outcomes.get(outcome, 0) + 1
            config = gateway.config
            jitter = float(config["jitter_ms"])
            delay = float(config["latency_ms"]) + (random.uniform(-jitter, jitter) if jitter else 0)
            if delay > 0:
                await asyncio.sleep(delay / 1000)
            if outcome == "429":
                response = web.json_response(
                    {"error": {"message": "rate limit exceeded"}},
                    status=429,
                    headers={"Retry-After": str(config["retry_after"])},
                )
            elif outcome == "500":
                response = web.json_response({"error": {"message": "worker crashed"}}, status=500)
            elif outcome == "non_json":
                response = web.Response(text="<html>bad gateway</html>", content_type="text/html")
            else:
                if outcome == "duplicate":
                    content = gateway.last_content
                elif outcome == "invalid":
                    content = "{}"
                else:
                    content = gateway.last_content = gateway.content_for(_schema_of(body), n)
                prompt_tokens = max(1, len(raw) // 4)
                completion_tokens = max(1, len(content) // 4)
                reply = {
                    "id": f"chatcmpl-bench-{n}",
                    "object": "chat.completion",
                    "model": body.get("model") or "bench-model",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                }
                response = web.Response(body=orjson.dumps(reply), content_type="application/json")
            gateway.answered += 1
            return response
        finally:
            gateway._tick(-1)

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "bench-model"}]})

    async def set_config(request: web.Request) -> web.Response:
        gateway.configure(await request.json())
        return web.json_response(gateway.config)

    async def reset(_: web.Request) -> web.Response:
        gateway.reset()
        return web.json_response({"ok": True})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(gateway.stats())

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/__bench/config", set_config)
    app.router.add_post("/__bench/reset", reset)
    app.router.add_get("/__bench/stats", stats)
    return app


@dataclass
class GatewayProcess:
    """The gateway running as its own process, and its control endpoints."""

    server: ServerProcess
    url: str

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (`{base_url}/chat/completions`)."""
        return self.url + "/v1"

    def configure(self, **config: Any) -> None:
        httpx.post(self.url + "/__bench/config", json=config, timeout=10).raise_for_status()

    def reset(self) -> None:
        httpx.post(self.url + "/__bench/reset", timeout=10).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = httpx.get(self.url + "/__bench/stats", timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        self.server.stop()


def start_gateway(*, log_path: Path, cpu: int | None, **config: Any) -> GatewayProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(
        ["-m", "bench.gateway", "--port", str(port), "--config", orjson.dumps(config).decode()],
        url=url,
        health_path="/v1/models",
        log_path=log_path,
        cpu=cpu,
    )
    return GatewayProcess(server=server, url=url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=None)
    parser.add_argument("--jitter-ms", type=float, default=None)
    parser.add_argument("--rate-500", type=float, default=None)
    parser.add_argument("--rate-429", type=float, default=None)
    parser.add_argument("--rate-non-json", type=float, default=None)
    parser.add_argument("--retry-after", default=None)
    parser.add_argument("--config", default="{}", help="JSON object of gateway settings")
    args = parser.parse_args()
    config = dict(orjson.loads(args.config))
    for name in ("latency_ms", "jitter_ms", "rate_500", "rate_429", "rate_non_json", "retry_after"):
        if getattr(args, name) is not None:
            config[name] = getattr(args, name)
    web.run_app(
        build_app(Gateway(config)),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()
