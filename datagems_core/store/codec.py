"""How the embedded stores keep a normalised JSON value as text, and read it back fast.

`hgetall` of a big hash spends its time parsing JSON, and orjson parses about 2.5 times faster
than the stdlib. orjson cannot carry integers beyond 64 bits (it refuses to write them and reads
them as floats), so such a value is written by the stdlib with a leading space, which is valid
JSON, and read back by the exact stdlib parser.
"""

from __future__ import annotations

import json

import orjson

from datagems_core.store.base import JSONValue, normalise

_EXACT = " "


def encode_value(value: object, *, key: str) -> str | None:
    """Normalise `value` as CStore does and return its stored text; None means delete."""
    normalised = normalise(value, key=key)
    return None if normalised is None else json_text(normalised)


def json_text(value: JSONValue) -> str:
    """`value` (already normalised) as JSON text that `decode_value` reads back exactly."""
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, UnicodeDecodeError):
        # Integers beyond 64 bits, or strings with lone surrogates: ASCII-escaped stdlib JSON.
        return _EXACT + json.dumps(value)


def decode_value(text: str | None) -> JSONValue:
    if text is None:
        return None
    value: JSONValue = json.loads(text) if text.startswith(_EXACT) else orjson.loads(text)
    return value
