"""Secrets out of anything we log, raise, store or send: headers, JSON bodies, query strings,
the key in use, and anything that looks like a credential (`Bearer ...`, `sk-...`, `api_key=...`).

`mask_secrets` is the one function every inference error's text goes through when the error is
created (`InferenceError` and the client's own failures), so nothing downstream (the API's
answer, `job.error`, the store, logs, Prefect states) can see a key; `SecretMaskingFilter` does
the same to DataGems' log records as a second line.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
# Credential-looking text: a scheme and its token, OpenAI-style keys, and key=value pairs.
_TOKEN_TEXT = re.compile(
    r"(?P<scheme>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=:-]{4,}"
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{6,}"
    r"|(?P<name>\b(?:api[_-]?key|apikey|access[_-]?token|secret|password)[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"',;&]{4,}",
    re.I,
)
_MIN_SECRET = 4
_SECRET_NAME = re.compile(
    # "token" but not "tokens" (max_tokens, prompt_tokens are counts, not secrets)
    r"(authorization|api[-_]?key|apikey|token(?!s)|secret|password|passwd|credential|cookie)",
    re.I,
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


def _mask_match(match: re.Match[str]) -> str:
    prefix = match.group("scheme") or match.group("name") or ""
    return prefix + REDACTED


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each of `secrets` and every credential-looking token replaced."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            text = text.replace(secret, REDACTED)
    return _TOKEN_TEXT.sub(_mask_match, text)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """The text, as JSON with secret keys redacted when it is JSON, and each secret masked."""
    try:
        text = json.dumps(redact_value(json.loads(text)), ensure_ascii=False)
    except ValueError:
        pass
    return mask_secrets(text, secrets)


class SecretMaskingFilter(logging.Filter):
    """Masks credential-looking text in a log record's message (a second line behind
    `mask_secrets` at the source). Attach it to handlers or loggers; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_secrets(text)
        return True
