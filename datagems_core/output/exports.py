"""Export a job's valid records as JSON, JSONL, CSV or Parquet, streamed from its checkpoint blocks.

Records come in index order in chunks, so memory stays flat however large the dataset. JSON and
JSONL need one pass. CSV and Parquet need the fields up front (CSV: the union in first-seen
order; Parquet: one Arrow type per field, ints and floats becoming float, a field whose values
cannot share a type JSON-encoded text): they come from the shapes stored with each block, so no
extra pass over the data is needed (blocks without a shape get one).
Failed records are left out and counted.

    summary = await export_to_path(store, files, job_id, Path("tickets.csv"))
"""

from __future__ import annotations

import gc
import io
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from datagems_core.errors import BadRequest
from datagems_core.jobs.checkpoints import read_block_entries
from datagems_core.jobs.repository import read_shards
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.output.record_shapes import Shape, arrow_type, merge_shapes, shape_of_records
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore
from datagems_core.store.files.temp_files import create_temp_file

ExportFormat = Literal["json", "jsonl", "csv", "parquet"]
FORMATS: dict[str, ExportFormat] = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}
MEDIA_TYPES: dict[ExportFormat, str] = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
CHUNK_ROWS = 5_000


@dataclass
class ExportSummary:
    format: ExportFormat
    rows: int = 0
    failed: int = 0
    columns: list[str] = field(default_factory=list)


def format_for_path(path: Path | str) -> ExportFormat:
    """The export format named by a file's extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise BadRequest(
            f"cannot tell the export format from {str(path)!r}: "
            "use a file name ending in .json, .jsonl, .csv or .parquet"
        )
    return FORMATS[suffix]


def parse_format(value: str) -> ExportFormat:
    name = value.lower().lstrip(".")
    if f".{name}" not in FORMATS:
        raise BadRequest(f"unknown export format {value!r}: use json, jsonl, csv or parquet")
    return FORMATS[f".{name}"]


async def export_to_path(
    store: KVStore,
    files: FileStore,
    job_id: str,
    path: Path,
    *,
    fmt: ExportFormat | None = None,
) -> ExportSummary:
    """Write the export to `path` atomically (a temp file renamed into place), with the mode the
    user's other new files get (0644 under umask 022)."""
    fmt = fmt or format_for_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp_file(path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            summary = await write_export(store, files, job_id, fmt=fmt, out=out)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return summary


async def iter_export_bytes(
    store: KVStore,
    files: FileStore,
    job_id: str,
    *,
    fmt: ExportFormat,
    summary: ExportSummary | None = None,
) -> AsyncIterator[bytes]:
    """The export as a byte stream (for an HTTP response); Parquet is spooled to a temp file."""
    summary = summary or ExportSummary(format=fmt)
    if fmt == "parquet":
        with tempfile.TemporaryFile() as spool:
            await write_export(store, files, job_id, fmt=fmt, out=spool, summary=summary)
            spool.seek(0)
            while block := spool.read(1 << 20):
                yield block
        return
    buffer = io.BytesIO()
    writer = _write_text(store, files, job_id, fmt, buffer, summary)
    while True:
        with _gc_paused():  # only while a chunk is made, not while the client reads it
            done = await anext(writer, True)
        if buffer.tell():
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if done is True:
            break


async def write_export(
    store: KVStore,
    files: FileStore,
    job_id: str,
    *,
    fmt: ExportFormat,
    out: IO[bytes],
    summary: ExportSummary | None = None,
) -> ExportSummary:
    """Write the job's valid records to `out` in `fmt`."""
    summary = summary or ExportSummary(format=fmt)
    with _gc_paused():
        if fmt == "parquet":
            await _write_parquet(store, files, job_id, out, summary)
        else:
            async for _ in _write_text(store, files, job_id, fmt, out, summary):
                pass
    return summary


async def _data_chunks(
    store: KVStore, files: FileStore, job_id: str, summary: ExportSummary | None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Valid records' data in index order, in chunks of about CHUNK_ROWS."""
    rows: list[dict[str, Any]] = []
    async for chunk in iter_result_chunks(store, files, job_id):
        for record in chunk:
            if record.get("ok") and isinstance(record.get("data"), dict):
                rows.append(record["data"])
            elif summary is not None:
                summary.failed += 1
        if len(rows) >= CHUNK_ROWS:
            yield rows
            rows = []
    if rows:
        yield rows


async def _write_text(
    store: KVStore,
    files: FileStore,
    job_id: str,
    fmt: ExportFormat,
    out: IO[bytes],
    summary: ExportSummary,
) -> AsyncIterator[None]:
    """Write JSON, JSONL or CSV chunk by chunk, yielding after each chunk."""
    columns: list[str] = []
    csv_types: dict[str, pl.DataType] = {}
    if fmt == "csv":
        columns, types = await _fields(store, files, job_id)
        summary.columns = columns
        csv_types = {name: _CSV_TYPES.get(types[name], pl.String()) for name in columns}
    if fmt == "json":
        out.write(b"[")
    async for rows in _data_chunks(store, files, job_id, summary):
        if fmt == "jsonl":
            out.write(b"".join(orjson.dumps(row) + b"\n" for row in rows))
        elif fmt == "json":
            separator = b"\n" if summary.rows == 0 else b",\n"
            out.write(separator + b",\n".join(orjson.dumps(row) for row in rows))
        else:
            frame = pl.DataFrame([_csv_column(name, csv_types[name], rows) for name in columns])
            frame.write_csv(out, include_header=summary.rows == 0)
        summary.rows += len(rows)
        yield
    if fmt == "json":
        out.write(b"\n]\n" if summary.rows else b"]\n")
    elif fmt == "csv" and summary.rows == 0 and columns:
        pl.DataFrame(schema=dict.fromkeys(columns, pl.String)).write_csv(out)


_CSV_TYPES: dict[pa.DataType | None, pl.DataType] = {
    pa.int64(): pl.Int64(),
    pa.float64(): pl.Float64(),
    pa.bool_(): pl.Boolean(),
    pa.string(): pl.String(),
}


def _csv_column(name: str, dtype: pl.DataType, rows: list[dict[str, Any]]) -> pl.Series:
    """Scalar fields keep their type (polars formats them); anything else becomes JSON text."""
    values = [row.get(name) for row in rows]
    if dtype == pl.String:
        values = [_json_text(v) for v in values]
    return pl.Series(name, values, dtype=dtype)


async def _fields(
    store: KVStore, files: FileStore, job_id: str
) -> tuple[list[str], dict[str, pa.DataType | None]]:
    """Field names (first-seen order) and one Arrow type each (None: JSON text).

    From the shapes stored with the blocks when they all have one, else a first pass over the data.
    """
    merged: Shape = {}
    for shard in await read_shards(store, job_id):
        for entry in await read_block_entries(store, job_id, shard):
            if entry.shape is None:
                return await _scan_fields(store, files, job_id)
            merge_shapes(merged, entry.shape)
    fields: dict[str, Shape] = merged.get("f", {})
    return list(fields), {name: arrow_type(shape) for name, shape in fields.items()}


async def _scan_fields(
    store: KVStore, files: FileStore, job_id: str
) -> tuple[list[str], dict[str, pa.DataType | None]]:
    merged: Shape = {}
    async for rows in _data_chunks(store, files, job_id, None):
        merge_shapes(merged, shape_of_records(rows))
    fields: dict[str, Shape] = merged.get("f", {})
    return list(fields), {name: arrow_type(shape) for name, shape in fields.items()}


async def _write_parquet(
    store: KVStore, files: FileStore, job_id: str, out: IO[bytes], summary: ExportSummary
) -> None:
    names, types = await _fields(store, files, job_id)
    encoders: dict[str, Callable[[Any], Any]] = {}
    fields = []
    for name in names:
        kind = types[name]
        if kind is None:  # values that cannot share an Arrow type: JSON text
            encoders[name] = _json_text
            kind = pa.string()
        fields.append(pa.field(name, kind))
    final = pa.schema(fields)
    summary.columns = final.names
    with pq.ParquetWriter(out, final, compression="zstd") as writer:
        async for rows in _data_chunks(store, files, job_id, summary):
            arrays = []
            for item in final:
                encode = encoders.get(item.name)
                values = [row.get(item.name) for row in rows]
                if encode is not None:
                    values = [encode(v) for v in values]
                arrays.append(pa.array(values, type=item.type))
            writer.write_table(pa.Table.from_arrays(arrays, schema=final))
            summary.rows += len(rows)


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


_gc_pauses = 0


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: exports allocate millions of acyclic dicts, and its full passes over
    them cost as much as the export itself. Nested pauses (concurrent exports) are counted."""
    global _gc_pauses
    if _gc_pauses == 0 and not gc.isenabled():
        yield
        return
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0:
            gc.enable()
