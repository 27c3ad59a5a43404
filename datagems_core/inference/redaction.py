"""Secrets out of anything we log: headers, JSON bodies, query strings and the key itself."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"(authorization|api[-_]?key|apikey|token|secret|password|passwd|credential|cookie)", re.I
)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name: REDACTED if is_secret_name(name) else value for name, value in headers}


def redact_value(value: Any) -> Any:
    """A copy of a JSON value with every secret-named key's value replaced."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED if is_secret_name(str(k)) else redact_value(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    query = urlencode(
        [(k, REDACTED if is_secret_name(k) else v) for k, v in parse_qsl(parts.query, True)]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """The text, as JSON with secret keys redacted when it is JSON, and each secret masked."""
    try:
        text = json.dumps(redact_value(json.loads(text)), ensure_ascii=False)
    except ValueError:
        pass
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
