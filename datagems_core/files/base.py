"""The file store protocol: immutable blobs under an id (an R1FS CID or a content hash)."""

from __future__ import annotations

from typing import Protocol

from datagems_core.store.base import JSONValue


class FileStore(Protocol):
    """Put bytes or JSON under a file name and get back an id; read by id. Content is immutable."""

    name: str

    async def put_bytes(self, filename: str, data: bytes) -> str: ...

    async def put_json(self, filename: str, data: JSONValue) -> str: ...

    async def get_bytes(self, file_id: str) -> bytes: ...

    async def get_json(self, file_id: str) -> JSONValue: ...

    async def close(self) -> None: ...
