"""Token usage: what a gateway reports, and the count from sizes when it reports none."""

from __future__ import annotations

from datagems_core.inference.usage import BYTES_PER_TOKEN, TokenUsage, estimate_usage


def test_estimate_usage_counts_request_and_reply_bytes_and_marks_them_estimated():
    usage = estimate_usage(b"x" * 10, {"name": "Zoë"})
    reply = len('{"name": "Zoë"}'.encode())
    assert usage.prompt == 3  # 10 bytes / 4, rounded up
    assert usage.completion == -(-reply // BYTES_PER_TOKEN)
    assert usage.total == usage.estimated == usage.prompt + usage.completion


def test_estimated_tokens_add_up_and_survive_a_round_trip_through_json():
    reported = TokenUsage.from_reply({"prompt_tokens": 7, "completion_tokens": 3})
    both = reported + estimate_usage(b"abcd", "ab")
    assert both == TokenUsage(prompt=8, completion=4, total=12, estimated=2)
    assert TokenUsage.from_json(both.to_json()) == both
    assert "estimated" not in reported.to_json()  # records of reporting gateways are unchanged
