"""Reply content to JSON object: extraction, parsing, repair; and reply unwrapping per flavour."""

from __future__ import annotations

import json

import pytest

from datagems_core.inference.parsing import UnparseableContent, extract_text, parse_object
from datagems_core.inference.usage import TokenUsage
from datagems_core.inference.wire import BodyTemplate, ReplyError, encode_message, read_reply

RECORD = {"name": "Ada", "age": 36, "tags": ["x", "y"]}


@pytest.mark.parametrize(
    "content",
    [
        json.dumps(RECORD),
        "```json\n" + json.dumps(RECORD, indent=2) + "\n```",
        "Sure! Here is the record:\n" + json.dumps(RECORD) + "\nLet me know if you need more.",
        '{"name": "Ada", "age": 36, "tags": ["x", "y",],}',
        "{'name': 'Ada', 'age': 36, 'tags': ['x', 'y']}",
        '{"name": "Ada", "age": 36, "tags": ["x", "y"]',
        "\ufeff" + json.dumps(RECORD),
        json.dumps(json.dumps(RECORD)),
        [{"type": "text", "text": json.dumps(RECORD)}],
        [{"type": "text", "text": {"value": json.dumps(RECORD)}}],
        {"type": "text", "text": json.dumps(RECORD)},
        RECORD,
    ],
    ids=[
        "plain",
        "fenced",
        "prose-wrapped",
        "trailing-commas",
        "single-quotes",
        "missing-closer",
        "bom",
        "double-encoded",
        "parts-array",
        "parts-value",
        "one-part",
        "decoded-object",
    ],
)
def test_parse_object_recovers_the_record(content):
    assert parse_object(content) == RECORD


def test_parse_object_takes_the_first_balanced_object_with_braces_in_strings():
    text = 'Record: {"note": "a } inside", "n": 1} and later {"other": 2}'
    assert parse_object(text) == {"note": "a } inside", "n": 1}


@pytest.mark.parametrize(
    "content",
    [
        "I'm sorry, I cannot help with that.",
        "",
        "   ",
        "[1, 2, 3]",
        "42",
        None,
        [{"type": "image", "url": "x"}],
    ],
)
def test_parse_object_refuses_what_is_not_an_object(content):
    with pytest.raises(UnparseableContent):
        parse_object(content)


def test_extract_text_joins_parts():
    parts = [{"type": "text", "text": "a"}, "b", {"content": {"text": "c"}}]
    assert extract_text(parts) == "a\nb\nc"


def _openai_reply(content, usage=None):
    reply = {
        "id": "x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }
    if usage:
        reply["usage"] = usage
    return reply


USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def test_read_reply_plain_openai():
    reply = read_reply(_openai_reply("{}", USAGE))
    assert reply.content == "{}"
    assert reply.usage == TokenUsage(10, 5, 15)


def test_read_reply_ratio1_wrapped_with_usage_inside_full_output():
    data = {
        "result": {
            "REQUEST_ID": "r1",
            "MODEL_NAME": "m",
            "TEXT_RESPONSE": ["ignored"],
            "FULL_OUTPUT": [_openai_reply('{"a": 1}', USAGE)],
        },
        "server_node_addr": "0xai",
    }
    reply = read_reply(data)
    assert reply.content == '{"a": 1}'
    assert reply.usage == TokenUsage(10, 5, 15)


def test_read_reply_ratio1_falls_back_to_text_response():
    reply = read_reply({"result": {"status": "ok", "TEXT_RESPONSE": ['{"a": 1}']}})
    assert reply.content == '{"a": 1}'
    assert reply.usage == TokenUsage()


def test_read_reply_message_content_and_content_shapes():
    assert read_reply({"message": {"content": "x"}}).content == "x"
    assert read_reply({"content": [{"type": "text", "text": "y"}]}).content == [
        {"type": "text", "text": "y"}
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"result": {"error": "model not loaded"}}, "model not loaded"),
        ({"result": {"status": "failed", "TEXT_RESPONSE": ["x"]}}, "status 'failed'"),
        ({"error": {"message": "overloaded"}}, "overloaded"),
        ({"id": "x", "choices": []}, "no message content"),
        ([1, 2], "not an object"),
    ],
)
def test_read_reply_errors(data, message):
    with pytest.raises(ReplyError, match=message):
        read_reply(data)


def test_usage_total_defaults_to_the_sum():
    assert TokenUsage.from_reply({"prompt_tokens": 3, "completion_tokens": 4}) == TokenUsage(
        3, 4, 7
    )
    assert TokenUsage.from_reply({"prompt_tokens": "x"}) == TokenUsage()


def test_body_template_renders_valid_json_in_every_form():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    template = BodyTemplate(
        messages=[("system", "Be brief."), ("user", 'say "hi"')],
        model="m1",
        parameters={"temperature": 0.3, "stream": True, "response_format": "ignored"},
        schema=schema,
    )
    body = json.loads(template.render([encode_message("user", "record #1")], "json_schema"))
    assert [m["content"] for m in body["messages"]] == ["Be brief.", 'say "hi"', "record #1"]
    assert body["model"] == "m1"
    assert body["temperature"] == 0.3
    assert "stream" not in body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "record", "schema": schema, "strict": False},
    }
    fallback = json.loads(template.render([], "json_object_schema"))
    assert fallback["response_format"] == {"type": "json_object", "schema": schema}
    assert len(fallback["messages"]) == 2
    plain = json.loads(template.render([], "json_object"))
    assert plain["response_format"] == {"type": "json_object"}
    prompt = json.loads(template.render([encode_message("user", "x")], "prompt"))
    assert "response_format" not in prompt
    assert len(prompt["messages"]) == 3


def test_body_template_keeps_the_shared_prefix_identical_across_records_and_forms():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    template = BodyTemplate(
        messages=[("system", "Be brief."), ("user", "schema here")],
        model="m1",
        parameters={},
        schema=schema,
    )
    bodies = [
        template.render([encode_message("user", f"record #{i}")], form)
        for i in range(3)
        for form in ("json_schema", "json_object_schema", "json_object", "prompt")
    ]
    prefix = b'{"messages":[{"role":"system","content":"Be brief."},'
    assert all(
        body.startswith(prefix + b'{"role":"user","content":"schema here"},') for body in bodies
    )


def test_body_template_adds_the_schema_to_the_prompt_forms_when_asked():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    template = BodyTemplate(
        messages=[("system", "Draft.")],
        model=None,
        parameters={},
        schema=schema,
        prompt_schema=True,
    )
    enforced = json.loads(template.render([], "json_object_schema"))
    assert len(enforced["messages"]) == 1
    for form in ("json_object", "prompt"):
        messages = json.loads(template.render([], form))["messages"]
        assert messages[-1]["content"].endswith(json.dumps(schema, separators=(",", ":")))


def test_body_template_without_fixed_messages_or_model():
    template = BodyTemplate(messages=[], model=None, parameters={}, schema=None)
    body = json.loads(template.render([encode_message("user", "x")], "json_object"))
    assert body == {
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"},
    }
