"""A job's quality report: what its candidates became, and how its accepted records are spread.

    report = await quality_report(store, files, job)   # the body of GET /api/jobs/{id}/quality

Counts come from the shard records (exact however large the job); distributions, examples,
distinct-2 and the judge's scores from one pass over the stored candidates, of which the first
SAMPLE_ROWS accepted records feed the distributions.
"""

from __future__ import annotations

import statistics
from collections import Counter
from itertools import pairwise
from typing import Any

from datagems_core.jobs.models import Job, sum_shards
from datagems_core.jobs.repository import read_details, read_shards
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore

SAMPLE_ROWS = 20_000
EXAMPLES = 3
TOP = 5
BINS = 10


async def quality_report(store: KVStore, files: FileStore, job: Job) -> dict[str, Any]:
    shards = await read_shards(store, job.id)
    totals = sum_shards(shards)
    details = await read_details(files, job)
    properties = details.json_schema.get("properties") or {}
    rows: list[dict[str, Any]] = []
    asked: dict[str, Counter[str]] = {}
    examples: dict[str, list[dict[str, Any]]] = {}
    reasons: dict[str, Counter[str]] = {}
    scores: Counter[int] = Counter()
    async for chunk in iter_result_chunks(store, files, job.id, shards=shards):
        for stored in chunk:
            verdict = stored.get("verdict")
            if isinstance(verdict, dict) and isinstance(verdict.get("score"), int):
                scores[verdict["score"]] += 1
            if stored.get("ok"):
                if len(rows) < SAMPLE_ROWS and isinstance(stored.get("data"), dict):
                    rows.append(stored["data"])
                    for name, value in (stored.get("variation") or {}).items():
                        asked.setdefault(name, Counter())[_key(value)] += 1
                continue
            gate = stored.get("gate") or "invalid"
            reason = str(stored.get("error") or "unknown")
            reasons.setdefault(gate, Counter())[_reason_kind(reason)] += 1
            shown = examples.setdefault(gate, [])
            if len(shown) < EXAMPLES:
                shown.append(
                    {"index": stored.get("index"), "reason": reason, "data": stored.get("data")}
                )
    rejected = {
        gate: {
            "count": count,
            "reasons": dict(reasons.get(gate, Counter()).most_common(TOP)),
            "examples": examples.get(gate, []),
        }
        for gate, count in totals.rejected.items()
    }
    return {
        "jobId": job.id,
        "status": job.status,
        "totalRecords": job.total_records,
        "candidates": totals.total_ok + totals.total_failed,
        "accepted": totals.total_ok,
        "rejected": rejected,
        "duplicates": {
            "exact": totals.rejected.get("duplicate", 0),
            "near": totals.rejected.get("near_duplicate", 0),
            "unique": totals.rejected.get("unique", 0),
        },
        "gates": details.gates.to_record(),
        "distinct2": distinct_2(rows, properties),
        "fields": {
            name: field_distribution(name, rows, properties.get(name), asked.get(name))
            for name in properties
        },
        "judgeScores": {str(score): scores.get(score, 0) for score in range(1, 6)}
        if scores
        else {},
        "sampled": len(rows),
        "tokens": totals.tokens.to_record(),
    }


def _key(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _reason_kind(reason: str) -> str:
    """The reason without the quoted value, so reasons of one kind count together."""
    head = reason.split("(", 1)[0].split("'", 1)[0]
    return head.strip()[:160]


def _text_fields(rows: list[dict[str, Any]], properties: dict[str, Any]) -> list[str]:
    return [
        name
        for name, schema in properties.items()
        if isinstance(schema, dict)
        and schema.get("type") == "string"
        and "enum" not in schema
        and "format" not in schema
        and any(isinstance(row.get(name), str) for row in rows)
    ]


def distinct_2(rows: list[dict[str, Any]], properties: dict[str, Any]) -> dict[str, Any]:
    """Distinct word bigrams over all bigrams, per free-text field and over them all."""
    per_field: dict[str, float | None] = {}
    all_distinct: set[tuple[str, str, str]] = set()
    all_total = 0
    for name in _text_fields(rows, properties):
        bigrams: set[tuple[str, str]] = set()
        total = 0
        for row in rows:
            value = row.get(name)
            if not isinstance(value, str):
                continue
            words = value.casefold().split()
            pairs = list(pairwise(words))
            total += len(pairs)
            bigrams.update(pairs)
            all_distinct.update((name, a, b) for a, b in pairs)
        all_total += total
        per_field[name] = round(len(bigrams) / total, 4) if total else None
    overall = round(len(all_distinct) / all_total, 4) if all_total else None
    return {"overall": overall, "fields": per_field}


def field_distribution(
    name: str, rows: list[dict[str, Any]], schema: Any, asked: Counter[str] | None
) -> dict[str, Any]:
    schema = schema if isinstance(schema, dict) else {}
    values = [row.get(name) for row in rows]
    present = [v for v in values if v is not None]
    entry: dict[str, Any] = {"nulls": len(values) - len(present)}
    if isinstance(schema.get("enum"), list):
        counts = Counter(_key(v) for v in present)
        entry.update(kind="enum", counts=dict(counts.most_common()))
        if asked:
            total = sum(asked.values())
            entry["asked"] = {k: round(c / total, 4) for k, c in asked.most_common()}
        return entry
    numbers = [v for v in present if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers and len(numbers) == len(present):
        entry.update(kind="number", **_number_stats(numbers))
        return entry
    booleans = [v for v in present if isinstance(v, bool)]
    if booleans and len(booleans) == len(present):
        entry.update(kind="boolean", true=sum(booleans), false=len(booleans) - sum(booleans))
        return entry
    strings = [v for v in present if isinstance(v, str)]
    if strings and len(strings) == len(present):
        lengths = [len(s) for s in strings]
        entry.update(
            kind="string",
            length={
                "min": min(lengths),
                "mean": round(statistics.fmean(lengths), 2),
                "max": max(lengths),
            },
            distinct=len(set(strings)),
            top=[[v, c] for v, c in Counter(strings).most_common(TOP)],
        )
        return entry
    entry.update(kind="mixed", distinct=len({_key(v) for v in present}))
    return entry


def _number_stats(numbers: list[int | float]) -> dict[str, Any]:
    low, high = min(numbers), max(numbers)
    width = (high - low) / BINS if high > low else 1
    bins = [0] * BINS
    for value in numbers:
        bins[min(int((value - low) / width), BINS - 1)] += 1
    return {
        "min": low,
        "median": statistics.median(numbers),
        "max": high,
        "histogram": {"edges": [low + i * width for i in range(BINS + 1)], "counts": bins},
    }


def render_quality(report: dict[str, Any], *, examples: bool = True) -> list[str]:
    """A few plain lines for the CLI and (without examples, which are the user's data) the
    Prefect summary."""
    lines = [
        f"candidates {report['candidates']}, accepted {report['accepted']} "
        f"of {report['totalRecords']}"
    ]
    for gate, info in report["rejected"].items():
        top = next(iter(info["reasons"]), "") if examples else ""
        lines.append(f"rejected by {gate}: {info['count']}" + (f" (e.g. {top})" if top else ""))
    if report["distinct2"]["overall"] is not None:
        lines.append(f"distinct-2 of text fields: {report['distinct2']['overall']}")
    if report["judgeScores"]:
        scores = ", ".join(f"{s}: {c}" for s, c in report["judgeScores"].items())
        lines.append(f"judge scores {scores}")
    return lines
