"""Files in PostgreSQL: job details, checkpoints and datasets for several machines without R1FS.

A file's id is the sha256 hex digest of its bytes, as in the local store, so the same content
has the same id wherever it was written and a file never changes. Its bytes are split into
1 MiB chunks, rows of `datagems_file_chunks` keyed by (id, sequence number); a row in
`datagems_files` is written in the same transaction as the last chunk, and readers look for it
first, so a reader never sees a partial file. A file on disk is hashed, then copied one chunk at
a time (and hashed again: a file changed in between is refused), so memory stays flat however
big the dataset; reading streams the chunks into one buffer of the file's size.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, TypeVar

import psycopg

from datagems_core.errors import FileMissing, FileStoreError, StoreError
from datagems_core.store.base import JSONValue
from datagems_core.store.files.local import decode_json, encode_json
from datagems_core.store.postgres import create_schema
from datagems_core.store.postgres_pool import PostgresPool

Connection = psycopg.Connection[tuple[object, ...]]
T = TypeVar("T")

CHUNK_BYTES = 1 << 20
_ID = re.compile(r"[0-9a-f]{64}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS datagems_files (
    id text COLLATE "C" PRIMARY KEY,
    size bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS datagems_file_chunks (
    file_id text COLLATE "C" NOT NULL,
    seq integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (file_id, seq)
);
"""


class PostgresFileStore:
    """FileStore in PostgreSQL tables, shared by every machine that reaches the database.

    >>> files = PostgresFileStore(pool=PostgresPool(url="postgresql://u:p@db:5432/datagems"))
    >>> file_id = await files.put_json("job.json", {"rows": []})
    >>> await files.get_json(file_id)  # {"rows": []}
    """

    def __init__(self, *, pool: PostgresPool, owns_pool: bool = True) -> None:
        self.pool = pool
        self.name = f"PostgreSQL file store at {pool.where}"
        self._owns_pool = owns_pool
        try:
            pool.call("creating the file tables", lambda db: create_schema(db, _SCHEMA))
        except StoreError as exc:
            raise FileStoreError(exc.message) from None

    async def put_bytes(self, filename: str, data: bytes) -> str:
        """Store `data`; the file name is not needed to find it again (it is for R1FS parity)."""
        del filename
        data = bytes(data)
        file_id = hashlib.sha256(data).hexdigest()
        chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
        await self._run(f"storing file {file_id}", lambda db: _write(db, file_id, chunks))
        return file_id

    async def put_file(self, filename: str, path: Path) -> str:
        """Store a copy of the file at `path`, a chunk at a time (memory stays flat)."""
        del filename
        source = Path(path)
        file_id = await asyncio.to_thread(self._hash_file, source)

        def write(db: Connection) -> None:
            with self._open(source) as reader:  # from the start again on a retry
                _write(db, file_id, iter(lambda: reader.read(CHUNK_BYTES), b""))

        await self._run(f"storing file {file_id} from {source}", write)
        return file_id

    async def put_json(self, filename: str, data: JSONValue) -> str:
        """Store `data` as canonical JSON (sorted keys, compact), as R1FS' add_json does."""
        return await self.put_bytes(filename, encode_json(data, filename=filename))

    async def get_bytes(self, file_id: str) -> bytes:
        if not isinstance(file_id, str) or not _ID.fullmatch(file_id):
            raise FileMissing(
                f"{self.name} has no file {file_id!r}: ids here are 64-character sha256 hex "
                "digests (an R1FS CID needs R1FS: set EE_R1FS_API_URL)"
            )
        data = await self._run(f"reading file {file_id}", lambda db: _read(db, file_id))
        if data is None:
            raise FileMissing(
                f"{self.name} has no file {file_id}: it was never stored in this database, or "
                "DATAGEMS_DATABASE_URL points at another one"
            )
        return data

    async def get_json(self, file_id: str) -> JSONValue:
        return decode_json(await self.get_bytes(file_id), file_id=file_id, store=self.name)

    async def close(self) -> None:
        if self._owns_pool:
            await self.pool.close()

    async def _run(self, action: str, work: Callable[[Connection], T]) -> T:
        try:
            return await self.pool.run(action, work)
        except StoreError as exc:
            raise FileStoreError(exc.message.replace(self.pool.name, self.name, 1)) from None

    def _open(self, source: Path) -> BinaryIO:
        try:
            return source.open("rb")
        except OSError as exc:
            raise FileStoreError(f"{self.name} cannot read {source} to store it: {exc}") from exc

    def _hash_file(self, source: Path) -> str:
        digest = hashlib.sha256()
        with self._open(source) as reader:
            while chunk := reader.read(CHUNK_BYTES):
                digest.update(chunk)
        return digest.hexdigest()


def _write(db: Connection, file_id: str, chunks: Iterable[bytes]) -> None:
    if db.execute("SELECT 1 FROM datagems_files WHERE id = %s", (file_id,)).fetchone():
        return  # same id, same bytes
    digest = hashlib.sha256()
    size = 0
    with db.transaction(), db.cursor() as cursor:
        for seq, chunk in enumerate(chunks):
            digest.update(chunk)
            size += len(chunk)
            cursor.execute(
                "INSERT INTO datagems_file_chunks (file_id, seq, data) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (file_id, seq, chunk),
            )
        if digest.hexdigest() != file_id:  # rolls the chunks back
            raise FileStoreError(
                f"file {file_id} changed while it was being stored; store it again"
            )
        cursor.execute(
            "INSERT INTO datagems_files (id, size) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (file_id, size),
        )


def _read(db: Connection, file_id: str) -> bytes | None:
    row = db.execute("SELECT size FROM datagems_files WHERE id = %s", (file_id,)).fetchone()
    if row is None:
        return None
    data = bytearray()
    with db.cursor() as cursor:
        # stream() fetches one row at a time: the chunks are never all in memory twice.
        for (chunk,) in cursor.stream(
            "SELECT data FROM datagems_file_chunks WHERE file_id = %s ORDER BY seq", (file_id,)
        ):
            assert isinstance(chunk, bytes)
            data += chunk
    if len(data) != int(str(row[0])):
        raise FileStoreError(
            f"file {file_id} is incomplete in the database ({len(data)} of {row[0]} bytes)"
        )
    return bytes(data)
