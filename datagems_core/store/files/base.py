"""The file store protocol: immutable blobs under an id (an R1FS CID or a content hash)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from datagems_core.store.base import JSONValue


class FileStore(Protocol):
    """Put bytes, a file or JSON under a file name, get an id back, read by id; immutable."""

    name: str

    async def put_bytes(self, filename: str, data: bytes) -> str: ...

    async def put_file(self, filename: str, path: Path) -> str:
        """Store the file at `path` without reading it whole into memory; the caller keeps it."""
        ...

    async def put_json(self, filename: str, data: JSONValue) -> str: ...

    async def get_bytes(self, file_id: str) -> bytes: ...

    async def get_json(self, file_id: str) -> JSONValue: ...

    async def close(self) -> None: ...
