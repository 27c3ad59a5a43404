"""Per-record variation: values sampled from the schema that a record's prompt asks the model to use.

Without it every record gets the same prompt and diversity rests on sampling alone (the seed's
behaviour). Each record instead names a few values drawn deterministically for (seed, index):
the label in dataset mode, cycled so the classes come out balanced, one or two other enum fields
and a number in its declared range. The values are valid for their fields by construction.
"""

from __future__ import annotations

import random
from typing import Any

from datagems_core.inference.mock import MockUnsupported, generate_value

LABEL = "label"
_SKIPPED = frozenset({"record_id", "id"})


def sample_variation(
    schema: dict[str, Any], *, seed: int, index: int, dataset_mode: bool
) -> dict[str, Any]:
    """Field values for record `index`; an empty dict when the schema offers nothing to vary."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    rng = random.Random(f"variation:{seed}:{index}")
    chosen: dict[str, Any] = {}
    if dataset_mode:
        label = _balanced_label(properties.get(LABEL), seed=seed, index=index)
        if label is not None:
            chosen[LABEL] = label
    free = {n: s for n, s in properties.items() if n not in chosen and n not in _SKIPPED}
    enums = [n for n, s in free.items() if _is_enum(s)]
    numbers = [n for n, s in free.items() if _is_bounded_number(s)]
    enum_count = 1 if dataset_mode or numbers else 2
    picks = rng.sample(enums, min(enum_count, len(enums)))
    if numbers:
        picks.append(rng.choice(numbers))
    for name in sorted(picks, key=list(properties).index):
        try:
            chosen[name] = generate_value(schema, properties[name], rng, path=f"$.{name}")
        except MockUnsupported:
            continue  # a field we cannot sample is simply left to the model
    return chosen


def _balanced_label(schema: Any, *, seed: int, index: int) -> Any:
    if not isinstance(schema, dict):
        return None
    if _is_enum(schema):
        classes = list(schema["enum"])
        wrap = False
    elif schema.get("type") == "array" and _is_enum(schema.get("items")):
        if int(schema.get("minItems") or 0) > 1:
            return None
        classes = list(schema["items"]["enum"])
        wrap = True
    else:
        return None
    # A seeded permutation of the classes, walked in order: every window of n records holds
    # each class once, whatever the seed.
    random.Random(f"labels:{seed}").shuffle(classes)
    value = classes[index % len(classes)]
    return [value] if wrap else value


def _is_enum(schema: Any) -> bool:
    return (
        isinstance(schema, dict)
        and isinstance(schema.get("enum"), list)
        and len(schema["enum"]) >= 2
        and "const" not in schema
    )


def _is_bounded_number(schema: Any) -> bool:
    if not isinstance(schema, dict) or schema.get("type") not in ("integer", "number"):
        return False
    has_low = "minimum" in schema or "exclusiveMinimum" in schema
    has_high = "maximum" in schema or "exclusiveMaximum" in schema
    return has_low and has_high and "enum" not in schema and "const" not in schema
