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


class VariationPlan:
    """What a job's records vary, worked out once from the schema; `sample` draws one record's.

    >>> plan = VariationPlan(schema, seed=7, dataset_mode=True)
    >>> plan.sample(0)  # {"label": "spam", "priority": 3}
    """

    def __init__(self, schema: dict[str, Any], *, seed: int, dataset_mode: bool) -> None:
        self.schema = schema
        self.seed = seed
        properties = schema.get("properties")
        self.properties: dict[str, Any] = properties if isinstance(properties, dict) else {}
        self.labels = _label_cycle(self.properties.get(LABEL), seed=seed) if dataset_mode else None
        taken = {LABEL} if self.labels is not None else set()
        free = {n: s for n, s in self.properties.items() if n not in taken and n not in _SKIPPED}
        self.enums = [n for n, s in free.items() if _is_enum(s)]
        self.numbers = [n for n, s in free.items() if _is_bounded_number(s)]
        self.enum_count = min(1 if dataset_mode or self.numbers else 2, len(self.enums))
        self.order = {name: position for position, name in enumerate(self.properties)}

    def sample(self, index: int) -> dict[str, Any]:
        """Field values for record `index`; an empty dict when the schema offers nothing to vary."""
        if not self.properties:
            return {}
        chosen: dict[str, Any] = {}
        if self.labels is not None:
            classes, wrap = self.labels
            value = classes[index % len(classes)]
            chosen[LABEL] = [value] if wrap else value
        rng = random.Random(f"variation:{self.seed}:{index}")
        picks = rng.sample(self.enums, self.enum_count)
        if self.numbers:
            picks.append(rng.choice(self.numbers))
        for name in sorted(picks, key=self.order.__getitem__):
            try:
                chosen[name] = generate_value(
                    self.schema, self.properties[name], rng, path=f"$.{name}"
                )
            except MockUnsupported:
                continue  # a field we cannot sample is simply left to the model
        return chosen


def sample_variation(
    schema: dict[str, Any], *, seed: int, index: int, dataset_mode: bool
) -> dict[str, Any]:
    """Field values for record `index` (a one-off `VariationPlan`)."""
    return VariationPlan(schema, seed=seed, dataset_mode=dataset_mode).sample(index)


def _label_cycle(schema: Any, *, seed: int) -> tuple[list[Any], bool] | None:
    """The label classes in the order records take them, and whether a label is a list."""
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
    return classes, wrap


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
