"""The embedded file store: content-addressed files under the data dir, used when R1FS is absent.

A file's id is the sha256 hex digest of its bytes, so the same content always gets the same id
and a file never changes once written. Writes go to a temporary file that is renamed into place,
so a reader (another process) never sees a partial file. Disk work runs off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from datagems_core.errors import BadRequest, FileMissing, FileStoreError
from datagems_core.store.base import JSONValue
from datagems_core.store.files.temp_files import create_temp_file

_ID = re.compile(r"[0-9a-f]{64}")
_CHUNK_BYTES = 1 << 20


class LocalFileStore:
    """FileStore on the local disk.

    >>> files = LocalFileStore(root=Path(".datagems/files"))
    >>> file_id = await files.put_json("dataset.json", {"rows": []})
    >>> await files.get_json(file_id)  # {"rows": []}
    """

    def __init__(self, *, root: Path) -> None:
        self.root = Path(root)
        self.name = f"local file store at {self.root}"

    async def put_bytes(self, filename: str, data: bytes) -> str:
        """Store `data`; the file name is not needed to find it again (it is for R1FS parity)."""
        del filename
        return await asyncio.to_thread(self._put, bytes(data))

    async def put_file(self, filename: str, path: Path) -> str:
        """Store a copy of the file at `path`, hashed and copied in chunks (memory stays flat)."""
        del filename
        return await asyncio.to_thread(self._put_file, Path(path))

    async def put_json(self, filename: str, data: JSONValue) -> str:
        """Store `data` as canonical JSON (sorted keys, compact), as R1FS' add_json does."""
        return await self.put_bytes(filename, encode_json(data, filename=filename))

    async def get_bytes(self, file_id: str) -> bytes:
        return await asyncio.to_thread(self._get, file_id)

    async def get_json(self, file_id: str) -> JSONValue:
        return decode_json(await self.get_bytes(file_id), file_id=file_id, store=self.name)

    async def delete(self, file_id: str) -> None:
        """Remove the file (gone already is fine)."""
        await asyncio.to_thread(self._delete, file_id)

    async def close(self) -> None:
        """Nothing to release."""

    def _path(self, file_id: str) -> Path:
        return self.root / file_id[:2] / file_id

    def _put(self, data: bytes) -> str:
        file_id = hashlib.sha256(data).hexdigest()
        if self._path(file_id).exists():
            return file_id  # same id, same bytes
        with self._writing() as (handle, tmp):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            self._place(tmp, file_id)
        return file_id

    def _put_file(self, source: Path) -> str:
        try:
            reader = source.open("rb")
        except OSError as exc:
            raise FileStoreError(f"{self.name} cannot read {source} to store it: {exc}") from exc
        digest = hashlib.sha256()
        with reader, self._writing() as (handle, tmp):
            while chunk := reader.read(_CHUNK_BYTES):
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            file_id = digest.hexdigest()
            self._place(tmp, file_id)
        return file_id

    @contextmanager
    def _writing(self) -> Iterator[tuple[BinaryIO, Path]]:
        """A temporary file in the store, removed unless renamed into place; write errors named."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = create_temp_file(self.root, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    yield handle, tmp
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise FileStoreError(
                f"{self.name} cannot write a file: {exc}; check free space and that "
                "DATAGEMS_DATA_DIR is writable"
            ) from exc

    def _place(self, tmp: Path, file_id: str) -> None:
        # Renaming is atomic, so a reader never sees a partial file; an existing file with
        # this id already holds these bytes.
        path = self._path(file_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)

    def _delete(self, file_id: str) -> None:
        if not isinstance(file_id, str) or not _ID.fullmatch(file_id):
            raise FileMissing(f"{self.name} has no file {file_id!r}")
        try:
            self._path(file_id).unlink(missing_ok=True)
        except OSError as exc:
            raise FileStoreError(f"{self.name} cannot delete file {file_id}: {exc}") from exc

    def _get(self, file_id: str) -> bytes:
        if not isinstance(file_id, str) or not _ID.fullmatch(file_id):
            raise FileMissing(
                f"{self.name} has no file {file_id!r}: ids here are 64-character sha256 hex "
                "digests (an R1FS CID needs R1FS: set EE_R1FS_API_URL)"
            )
        try:
            return self._path(file_id).read_bytes()
        except FileNotFoundError:
            raise FileMissing(
                f"{self.name} has no file {file_id}: it was never stored here, or the data "
                "dir was changed or cleaned"
            ) from None
        except OSError as exc:
            raise FileStoreError(f"{self.name} cannot read file {file_id}: {exc}") from exc


def encode_json(data: JSONValue, *, filename: str) -> bytes:
    """Canonical JSON bytes, as R1FS' add_json writes them; refuse what JSON cannot carry."""
    try:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"data for file {filename!r} is not JSON-serialisable: {exc}") from None
    return text.encode()


def decode_json(data: bytes, *, file_id: str, store: str) -> JSONValue:
    """Parse a stored JSON file, naming the file and store when it is not JSON."""
    try:
        value: JSONValue = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileStoreError(f"file {file_id} in {store} is not JSON: {exc}") from None
    return value
