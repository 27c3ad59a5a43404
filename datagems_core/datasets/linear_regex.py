"""Regular expressions of user schemas, matched in linear time.

Python's `re` backtracks: `^(a+)+$` against 29 `a`s and a `!` took 53 s. Every `pattern` and
`patternProperties` key of a record schema is matched here with the Rust `regex` engine (through
jsonschema-rs, `RegexOptions`), which has no backtracking: look-arounds and back-references do
not compile and are refused when the schema is given, as are repeat bounds above
`MAX_PATTERN_REPEAT` and patterns longer than `MAX_PATTERN_LENGTH`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import jsonschema_rs

MAX_PATTERN_LENGTH = 1000
MAX_PATTERN_REPEAT = 1000
# Compiled programs above this size are refused (the engine's own default is 10 MiB).
_SIZE_LIMIT = 2 * 1024 * 1024
_REPEAT = re.compile(r"(?<!\\)\{(\d+)(?:,(\d*))?\}")

PATTERN_OPTIONS = jsonschema_rs.RegexOptions(size_limit=_SIZE_LIMIT, dfa_size_limit=_SIZE_LIMIT)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be used (too long, huge repeats, not linear-time), or None."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"the pattern has {len(pattern)} characters; at most {MAX_PATTERN_LENGTH}"
    for match in _REPEAT.finditer(pattern):
        bounds = [int(b) for b in match.groups() if b]
        if any(b > MAX_PATTERN_REPEAT for b in bounds):
            return (
                f"the repeat {match.group(0)} is above the limit of {MAX_PATTERN_REPEAT}; "
                "use maxLength for long strings"
            )
    try:
        _compiled(pattern)
    except jsonschema_rs.ValidationError:
        return (
            "not a regular expression the linear-time matcher accepts (look-arounds, "
            "back-references and very large repeats are not supported)"
        )
    return None


def search(pattern: str, text: str) -> bool:
    """True when `pattern` matches somewhere in `text` (JSON Schema's `pattern` rule)."""
    return _compiled(pattern).is_valid(text)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(
        {"type": "string", "pattern": pattern}, pattern_options=PATTERN_OPTIONS
    )
