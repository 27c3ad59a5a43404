"""The Ratio1 R1FS file store over its HTTP API (spec/ratio1-wire.md section 2).

Files go up base64-encoded (`/add_file_base64`), as multipart streamed from disk (`/add_file`,
for datasets too large to hold in memory) or as JSON (`/add_json`, which the node writes as
canonical JSON) and come back through `/get_file_base64`, as the TypeScript DataGems does. The
node answers a failed read with HTTP 200 and an `error` field; that becomes a FileStoreError
carrying the node's message. Ids are the node's CIDs (`Qm...`).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

import httpx

from datagems_core.config.settings import Settings
from datagems_core.errors import FileMissing, FileStoreError
from datagems_core.store.base import JSONValue
from datagems_core.store.files.local import decode_json, encode_json
from datagems_core.store.ratio1_http import Ratio1Http

_HINT = (
    "check that the edge node's R1FS API is running and reachable at that address "
    "(EE_R1FS_API_URL or EE_R1FS_API_HOST/PORT)"
)


class R1FSFileStore:
    """FileStore on a Ratio1 R1FS node.

    >>> files = R1FSFileStore(base_url="http://127.0.0.1:31235")
    >>> cid = await files.put_bytes("dataset.jsonl", b"{}\\n")
    >>> await files.get_bytes(cid)
    """

    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.AsyncClient | None = None,
        timeout_seconds: float = 120.0,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        log_calls: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = f"R1FS at {self.base_url}"
        self.timeout = timeout_seconds
        self._node = Ratio1Http(
            service=self.name,
            base_url=self.base_url,
            http=http,
            retries=retries,
            backoff_seconds=backoff_seconds,
            error=FileStoreError,
            hint=_HINT,
            log_calls=log_calls,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, http: httpx.AsyncClient | None = None
    ) -> R1FSFileStore:
        if not settings.r1fs_api_url:
            raise FileStoreError("R1FS is not configured: set EE_R1FS_API_URL")
        return cls(
            base_url=settings.r1fs_api_url,
            http=http,
            timeout_seconds=settings.r1fs_timeout_seconds,
            retries=settings.r1fs_retries,
            log_calls=settings.log_r1fs_calls,
        )

    async def put_bytes(self, filename: str, data: bytes) -> str:
        body: JSONValue = {
            "file_base64_str": base64.b64encode(data).decode(),
            "filename": filename,
        }
        return await self._add("/add_file_base64", body, what=f"file {filename!r}")

    async def put_file(self, filename: str, path: Path) -> str:
        """Upload the file at `path` as a multipart `/add_file`, streamed from disk."""
        try:
            handle = Path(path).open("rb")
        except OSError as exc:
            raise FileStoreError(f"{self.name} cannot read {path} to upload it: {exc}") from exc
        with handle:
            return await self._add(
                "/add_file",
                None,
                what=f"file {filename!r}",
                files={"file": (filename, handle, "application/octet-stream")},
            )

    async def put_json(self, filename: str, data: JSONValue) -> str:
        encode_json(data, filename=filename)  # refuse what JSON cannot carry before sending
        return await self._add(
            "/add_json", {"data": data, "fn": filename}, what=f"JSON file {filename!r}"
        )

    async def get_bytes(self, file_id: str) -> bytes:
        what = f"file {file_id!r}"
        result = await self._node.call(
            "POST", "/get_file_base64", what=what, timeout=self.timeout, json={"cid": file_id}
        )
        if not isinstance(result, dict):
            raise FileStoreError(
                f"{self.name}: POST /get_file_base64 for {what} answered {result!r}"
            )
        encoded = result.get("file_base64_str")
        if not isinstance(encoded, str):
            message = result.get("error") or "no file content in the answer"
            error = FileMissing if "not found" in str(message).lower() else FileStoreError
            raise error(
                f"{self.name} cannot read {what}: {message}; check the CID, and that the node "
                "that stored it is reachable from this one"
            )
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FileStoreError(
                f"{self.name}: the content of {what} is not valid base64: {exc}"
            ) from None

    async def get_json(self, file_id: str) -> JSONValue:
        return decode_json(await self.get_bytes(file_id), file_id=file_id, store=self.name)

    async def delete(self, file_id: str) -> None:
        """Unpin the file here and on the peers, and remove its local copy."""
        await self._node.call(
            "POST",
            "/delete_file",
            what=f"deleting file {file_id!r}",
            timeout=self.timeout,
            json={"cid": file_id, "unpin_remote": True, "cleanup_local_files": True},
        )

    async def close(self) -> None:
        await self._node.close()

    async def _add(
        self, path: str, body: JSONValue, *, what: str, files: dict[str, Any] | None = None
    ) -> str:
        result = await self._node.call(
            "POST", path, what=what, timeout=self.timeout, json=body, files=files
        )
        cid = result.get("cid") if isinstance(result, dict) else None
        if not isinstance(cid, str) or not cid:
            raise FileStoreError(
                f"{self.name}: POST {path} for {what} answered {result!r} without a CID; {_HINT}"
            )
        return cid
