"""The fake gateway's aiohttp app: the OpenAI and Ratio1 chat routes and the /__fake controls."""

from __future__ import annotations

import asyncio
import copy
import json
import random

from aiohttp import web

from tests.support.fake_gateway_state import FakeGateway
from tests.support.fake_wire import (
    broken_record,
    drafted_schema,
    form_of,
    refusal_reply,
    schema_in_messages,
    schema_of,
    wrap_ratio1,
)


def build_app(gateway: FakeGateway) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        gateway.tick(1)
        try:
            response = await answer(request)
            gateway.answered += 1
            return response
        finally:
            gateway.tick(-1)

    async def answer(request: web.Request) -> web.StreamResponse:
        is_ratio1 = request.path.endswith("/create_chat_completion")
        n = gateway.counter
        gateway.counter += 1
        gateway.by_path[request.path] += 1
        raw = await request.read()
        config = gateway.config
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"error": {"message": "body is not JSON"}}, status=400)
        gateway.bodies.append(body)
        kind, schema = schema_of(body)
        gateway.by_format[kind] += 1
        form = form_of(body)
        gateway.by_form[form] += 1
        if schema is None:
            schema = schema_in_messages(body)
        expected_key = config.get("api_key")
        outcome = gateway.outcome(n)
        if outcome == "401" or (
            expected_key and request.headers.get("Authorization") != f"Bearer {expected_key}"
        ):
            gateway.by_outcome["401"] += 1
            return web.json_response({"error": {"message": "invalid API key"}}, status=401)
        if config["reject_json_schema"] and kind == "json_schema":
            gateway.by_outcome["rejected_format"] += 1
            message = "response_format type 'json_schema' is not supported; use json_object"
            return web.json_response({"error": {"message": message}}, status=400)
        if form in config["refuse_forms"]:
            gateway.by_outcome["refused_form"] += 1
            return refusal_reply(str(config["refusal"]), form)
        gateway.by_outcome[outcome] += 1
        delay = float(config["latency_ms"]) + random.uniform(0, float(config["jitter_ms"]))
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if outcome == "hang":
            await asyncio.sleep(float(config["hang_seconds"]))
        if outcome == "429":
            return web.json_response(
                {"error": {"message": "rate limit exceeded"}},
                status=429,
                headers={"Retry-After": str(config["retry_after"])},
            )
        if outcome in ("500", "503"):
            return web.json_response(
                {"error": {"message": "model worker crashed"}}, status=int(outcome)
            )
        if outcome == "non_json":
            return web.Response(text="<html>bad gateway</html>", content_type="text/html")
        if schema and "$schema" in (schema.get("properties") or {}):
            record = drafted_schema(body)  # a schema-drafting request
        elif outcome == "duplicate" and gateway.last_record is not None:
            record = copy.deepcopy(gateway.last_record)
        else:
            record = gateway.record_for(schema, n, body.get("messages"))
            if outcome in ("ok", "fenced"):  # sent as it is: what a duplicate repeats
                gateway.last_record = record
        if outcome == "garbage":
            content = "I'm sorry, I cannot help with generating that record today."
        elif outcome == "invalid":
            content = json.dumps(broken_record(record, schema))
        elif outcome == "schema":
            content = json.dumps(schema or {"type": "object"})
        elif outcome == "fenced":
            content = "Here is the record:\n```json\n" + json.dumps(record, indent=2) + "\n```"
        else:
            content = json.dumps(record)
        prompt_tokens = max(1, len(raw) // 4)
        completion_tokens = max(1, len(content) // 4)
        reply = {
            "id": f"chatcmpl-fake-{n}",
            "object": "chat.completion",
            "model": body.get("model") or "fake-model",
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
        if gateway.config["omit_usage"]:
            del reply["usage"]
        else:
            gateway.usage.update(
                replies=1, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        return web.json_response(wrap_ratio1(reply, content) if is_ratio1 else reply)

    async def models(_: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
        )

    async def set_config(request: web.Request) -> web.Response:
        gateway.configure(await request.json())
        return web.json_response(gateway.stats()["config"])

    async def reset(_: web.Request) -> web.Response:
        gateway.reset()
        return web.json_response({"ok": True})

    async def clear(_: web.Request) -> web.Response:
        gateway.clear()
        return web.json_response({"ok": True})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(gateway.stats())

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/chat/completions", chat)
    app.router.add_post("/create_chat_completion", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/models", models)
    app.router.add_post("/__fake/config", set_config)
    app.router.add_post("/__fake/reset", reset)
    app.router.add_post("/__fake/clear", clear)
    app.router.add_get("/__fake/stats", stats)
    return app
