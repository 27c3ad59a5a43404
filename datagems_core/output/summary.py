"""A markdown summary of a finished dataset: counts, failure reasons, tokens, per-field statistics.

Field statistics come from polars over the first SAMPLE_ROWS valid records (index order), so the
summary costs the same for a hundred records or a million.
"""

from __future__ import annotations

from typing import Any

import orjson
import polars as pl

from datagems_core.jobs.models import Job, Totals
from datagems_core.jobs.stored_records import iter_ok_records
from datagems_core.jobs.views import cost_line
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore

SAMPLE_ROWS = 20_000
TOP_VALUES = 3


async def sample_records(
    store: KVStore, files: FileStore, job_id: str, *, limit: int = SAMPLE_ROWS
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async for _, data in iter_ok_records(store, files, job_id):
        rows.append(data)
        if len(rows) >= limit:
            break
    return rows


def field_statistics(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per field: type, filled share, distinct values, range or top values."""
    if not rows:
        return []
    names = list(dict.fromkeys(name for row in rows for name in row))
    stats = []
    for name in names:
        values = [row.get(name) for row in rows]
        column = _column(name, values)
        non_null = column.len() - column.null_count()
        entry: dict[str, Any] = {
            "field": name,
            "type": _type_name(column.dtype),
            "filled": non_null / len(rows),
            "distinct": column.drop_nulls().n_unique() if non_null else 0,
        }
        if column.dtype.is_numeric() and non_null:
            entry.update(min=column.min(), max=column.max(), mean=column.mean(), std=column.std())
        elif column.dtype == pl.String and non_null:
            counts = column.drop_nulls().value_counts(sort=True).head(TOP_VALUES)
            entry["top"] = [(str(v), int(c)) for v, c in counts.iter_rows()]
            lengths = column.drop_nulls().str.len_chars()
            entry.update(min_length=lengths.min(), max_length=lengths.max())
        elif column.dtype == pl.Boolean and non_null:
            entry["true_share"] = column.drop_nulls().mean()
        stats.append(entry)
    return stats


def _column(name: str, values: list[Any]) -> pl.Series:
    column = None
    # Nested values are described by their JSON text whatever polars would make of them, and
    # building a nested series from Python first costs ~80 MB for 20,000 short lists.
    if not any(isinstance(v, dict | list) for v in values):
        try:
            column = pl.Series(name, values, strict=False)
        except (TypeError, ValueError, pl.exceptions.PolarsError):
            column = None
    if column is None or column.dtype in (pl.Object, pl.Null) or column.dtype.is_nested():
        # nested or mixed values: describe their JSON text
        column = pl.Series(
            name,
            [None if v is None else orjson.dumps(v).decode() for v in values],
            dtype=pl.String,
        )
    return column


def _type_name(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "number"
    if dtype == pl.Boolean:
        return "boolean"
    return "string"


def render_summary(
    job: Job,
    totals: Totals,
    stats: list[dict[str, Any]],
    *,
    sampled: int,
    quality: list[str] | None = None,
) -> str:
    lines = [
        f"# {_escape(job.title)}",
        "",
        f"Job `{job.id}` owned by `{_escape(job.owner)}`: **{job.status}**"
        + (f" ({_escape(job.error)})" if job.error else ""),
        "",
        "| Requested | Accepted | Rejected | Model calls | Prompt tokens | Completion tokens "
        "| Total tokens |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {job.total_records} | {totals.total_ok} | {totals.total_failed} | {totals.attempts} "
        f"| {totals.tokens.prompt} | {totals.tokens.completion} | {totals.tokens.total} |",
    ]
    if quality:
        lines += ["", "## Quality", ""]
        lines += [f"- {_escape(line)}" for line in quality]
    if totals.failure_reasons:
        lines += ["", "## Rejection reasons", "", "| Reason | Candidates |", "|---|---:|"]
        lines += [f"| {_escape(r)} | {c} |" for r, c in totals.failure_reasons.items()]
    if stats:
        lines += [
            "",
            f"## Fields (from the first {sampled} valid records)",
            "",
            "| Field | Type | Filled | Distinct | Range / top values |",
            "|---|---|---:|---:|---|",
        ]
        lines += [
            f"| {_escape(s['field'])} | {s['type']} | {s['filled']:.0%} | {s['distinct']} "
            f"| {_escape(_describe(s))} |"
            for s in stats
        ]
    return "\n".join(lines) + "\n"


def render_run_summary(job: Job, totals: Totals) -> str:
    """The summary a job's Prefect run shows: its title, id, state, counts and tokens only.

    Whoever holds Prefect's auth string sees every user's runs, so nothing a user wrote or got
    back (owner, records, field values, error and failure texts) goes there: they stay behind
    the API's per-user checks.
    """
    reasons = sum(totals.failure_reasons.values())
    return (
        "\n".join(
            [
                f"# {_escape(job.title)}",
                "",
                f"Job `{job.id}`: **{job.status}**",
                "",
                "| Requested | Valid | Failed | Model calls | Prompt tokens | Completion tokens "
                "| Total tokens |",
                "|---:|---:|---:|---:|---:|---:|---:|",
                f"| {job.total_records} | {totals.total_ok} | {totals.total_failed} "
                f"| {totals.attempts} | {totals.tokens.prompt} | {totals.tokens.completion} "
                f"| {totals.tokens.total} |",
                "",
                f"{_sentence(cost_line(job, totals.tokens, accepted=totals.total_ok))}.",
                "",
                f"Failure reasons, fields and records: `GET /api/jobs/{job.id}` ({reasons} failed "
                "attempts recorded).",
            ]
        )
        + "\n"
    )


def _describe(entry: dict[str, Any]) -> str:
    if "mean" in entry:
        return f"{_num(entry['min'])} to {_num(entry['max'])}, mean {_num(entry['mean'])}"
    if "true_share" in entry:
        return f"{entry['true_share']:.0%} true"
    if "top" in entry:
        top = ", ".join(f"{_short(v)} ({c})" for v, c in entry["top"])
        return f"length {entry['min_length']}-{entry['max_length']}; top: {top}"
    return ""


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
