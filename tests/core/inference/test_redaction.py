"""What the request log may show: no keys in headers, bodies, query strings or URLs."""

from __future__ import annotations

import json

from datagems_core.inference.redaction import (
    REDACTED,
    redact_headers,
    redact_text,
    redact_url,
    redact_value,
)


def test_redact_headers_hides_auth_and_key_headers():
    headers = [("Authorization", "Bearer sk-1"), ("X-Api-Key", "k"), ("Accept", "application/json")]
    assert redact_headers(headers) == {
        "Authorization": REDACTED,
        "X-Api-Key": REDACTED,
        "Accept": "application/json",
    }


def test_redact_value_walks_nested_json():
    body = {"messages": [{"content": "hi"}], "extras": {"apiKey": "k", "list": [{"token": "t"}]}}
    assert redact_value(body) == {
        "messages": [{"content": "hi"}],
        "extras": {"apiKey": REDACTED, "list": [{"token": REDACTED}]},
    }


def test_redact_url_drops_credentials_and_key_params():
    url = "https://user:pw@llm.example.com/v1/chat?api_key=sk-2&model=m"
    assert redact_url(url) == "https://llm.example.com/v1/chat?api_key=%5Bredacted%5D&model=m"


def test_redact_text_masks_the_secret_anywhere():
    text = json.dumps({"prompt": "my key is sk-3", "authorization": "sk-3"})
    redacted = redact_text(text, ["sk-3"])
    assert "sk-3" not in redacted
    assert redact_text("plain sk-3 text", ["sk-3"]) == f"plain {REDACTED} text"
