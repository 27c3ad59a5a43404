"""What we tell the model: system prompts and the messages for records, re-asks and schemas."""

from __future__ import annotations

import json
from typing import Any

RECORD_SYSTEM_PROMPT = """\
You produce synthetic data records. Reply with exactly one JSON object and nothing else.
- The object must conform to the JSON Schema you are given: use the exact property names, \
include every required property, give each value the declared type and respect every \
constraint (enum, const, format, minimum/maximum, minLength/maxLength, pattern, items). \
Add no properties the schema does not declare.
- Strict JSON (RFC 8259): double-quoted keys and strings, no comments, no trailing commas, \
no Markdown, no code fences, no prose before or after the object.
- The data is fictional. Invent people, companies and places; never use real personal data. \
Use reserved domains for addresses and links (example.com, example.org, example.net).
- Each request is one record of many: make it realistic and distinct, and use any values the \
request names.
- Return the record, never the schema. Check the object against the schema before replying."""

DATASET_RECORD_SYSTEM_PROMPT = (
    RECORD_SYSTEM_PROMPT
    + """
- This record belongs to a labelled dataset. The `label` field is the ground truth: choose it \
first (or use the one given) and make every other field consistent with it.
- No label leakage: free-text fields must not state the label, a synonym of it or an obvious \
hint, and ids or other fields must not encode it. The other fields should predict the label \
the way real data would, through their content."""
)

SCHEMA_SYSTEM_PROMPT = """\
You design JSON Schemas for synthetic data records. Reply with exactly one JSON Schema \
(draft 2020-12) for a single object record, and nothing else.
- Top level: "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", \
"properties", "required" and "additionalProperties": false.
- Every property is a schema object with a "type" drawn from the standard JSON types.
- List a property in "required" unless the instructions make it clearly optional.
- Use constraints where they help: enum, minimum/maximum, minLength/maxLength, pattern, \
format (date, date-time, email, uri, uuid), items, minItems/maxItems.
- Give each property a description of twelve words or fewer. No examples, no default or \
sample values.
- Strict JSON: no Markdown, no code fences, no prose."""

DATASET_SCHEMA_SYSTEM_PROMPT = (
    SCHEMA_SYSTEM_PROMPT
    + """
- The records form a labelled dataset. Include a required "label" property: a string with an \
enum of the classes (2 to 7 classes when the instructions name none) for single-label tasks, \
or an array of such strings for multi-label tasks.
- Prefer a required "record_id" string property.
- Add no field that is a proxy for the label. Descriptions of free-text fields must say that \
the text must not state the label."""
)

_SCHEMA_REQUEST_LINES = (
    "Return ONLY the JSON Schema object.",
    "Put no example values in the properties.",
    'Every property must be a schema object with a "type" field.',
)


def record_messages(
    *, instructions: str, schema: dict[str, Any], dataset_mode: bool
) -> list[tuple[str, str]]:
    """The messages every record of a job shares (the per-record line comes after them)."""
    system = DATASET_RECORD_SYSTEM_PROMPT if dataset_mode else RECORD_SYSTEM_PROMPT
    schema_request = (
        "Generate one record that conforms to this JSON Schema. "
        "Return only the record object, never the schema.\n"
        + json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    )
    return [("system", system), ("user", instructions.strip()), ("user", schema_request)]


def variation_prompt(index: int, values: dict[str, Any]) -> str:
    """The per-record line: which record this is and the values it must use."""
    line = f"This is record #{index + 1}; make it different from the others."
    if values:
        pairs = "; ".join(
            f"{name} = {json.dumps(value, ensure_ascii=False)}" for name, value in values.items()
        )
        line += f" Use these values: {pairs}."
    return line


def reask_prompt(errors: list[str]) -> str:
    """The follow-up after a reply that failed validation, quoting the validator."""
    listed = "\n".join(f"- {error}" for error in errors)
    return (
        "Your reply does not validate against the JSON Schema:\n"
        f"{listed}\n"
        "Reply with the corrected JSON object only. Keep the values that were valid."
    )


def schema_messages(*, instructions: str, dataset_mode: bool) -> list[tuple[str, str]]:
    system = DATASET_SCHEMA_SYSTEM_PROMPT if dataset_mode else SCHEMA_SYSTEM_PROMPT
    return [
        ("system", system),
        ("user", instructions.strip() + "\n\n" + "\n".join(_SCHEMA_REQUEST_LINES)),
    ]
