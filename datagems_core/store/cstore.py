"""The Ratio1 CStore key-value store over its HTTP API (spec/ratio1-wire.md section 1).

A write answers `true` when a peer confirmed it and `false` otherwise. `false` has two causes the
node does not tell apart: no peers at all (nothing was stored) or no confirmation in time (the
value is stored on this node, not yet elsewhere). The client retries, then reads the value back
to say which one happened: the first raises StoreError, the second StoreUnconfirmed unless
`accept_unconfirmed` is set. Values go out normalised through JSON and come back as stored; a
string is never decoded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx

from datagems_core.config.settings import Settings
from datagems_core.errors import StoreError, StoreUnconfirmed
from datagems_core.store.base import JSONValue, check_key, check_page, normalise, page_of
from datagems_core.store.codec import json_text
from datagems_core.store.ratio1_http import Ratio1Http, backoff_delay

logger = logging.getLogger(__name__)

MANY_IN_FLIGHT = 8  # hget calls of one batch read at a time: a page, without flooding the node

_HINT = (
    "check that the edge node's CStore API is running and reachable at that address "
    "(EE_CHAINSTORE_API_URL or EE_CHAINSTORE_API_HOST/PORT)"
)


class CStoreStore:
    """KVStore on a Ratio1 CStore node.

    >>> store = CStoreStore(base_url="http://127.0.0.1:31234", peers=["0xai_B"])
    >>> await store.hset("datagen:jobs", "job_1", {"status": "queued"})
    >>> await store.close()
    """

    def __init__(
        self,
        *,
        base_url: str,
        peers: Sequence[str] = (),
        http: httpx.AsyncClient | None = None,
        write_timeout_seconds: float = 35.0,
        read_timeout_seconds: float | None = None,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        accept_unconfirmed: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = f"CStore at {self.base_url}"
        self.peers = list(peers)
        self.write_timeout = write_timeout_seconds
        # A read waits behind any write the node is blocking on (up to ~30 s), so it gets the
        # write timeout unless told otherwise.
        self.read_timeout = read_timeout_seconds or write_timeout_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.accept_unconfirmed = accept_unconfirmed
        self._node = Ratio1Http(
            service=self.name,
            base_url=self.base_url,
            http=http,
            retries=retries,
            backoff_seconds=backoff_seconds,
            error=StoreError,
            hint=_HINT,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, http: httpx.AsyncClient | None = None
    ) -> CStoreStore:
        if not settings.cstore_api_url:
            raise StoreError("CStore is not configured: set EE_CHAINSTORE_API_URL")
        return cls(
            base_url=settings.cstore_api_url,
            peers=settings.chainstore_peers,
            http=http,
            write_timeout_seconds=settings.cstore_timeout_seconds,
            read_timeout_seconds=settings.cstore_read_timeout_seconds,
            retries=settings.cstore_retries,
            accept_unconfirmed=settings.cstore_accept_unconfirmed,
        )

    async def get(self, key: str) -> JSONValue:
        check_key(key)
        return await self._read("/get", {"key": key}, what=f"key {key!r}")

    async def set(self, key: str, value: JSONValue) -> None:
        check_key(key)
        body = {"key": key, "value": normalise(value, key=key)}
        await self._write("/set", body, what=f"key {key!r}", read_back=("/get", {"key": key}))

    async def hget(self, hkey: str, field: str) -> JSONValue:
        check_key(hkey, "hkey")
        check_key(field, "field")
        what = f"hash {hkey!r} field {field!r}"
        return await self._read("/hget", {"hkey": hkey, "key": field}, what=what)

    async def hset(self, hkey: str, field: str, value: JSONValue) -> None:
        check_key(hkey, "hkey")
        check_key(field, "field")
        what = f"hash {hkey!r} field {field!r}"
        body = {"hkey": hkey, "key": field, "value": normalise(value, key=f"{hkey} field {field}")}
        await self._write(
            "/hset", body, what=what, read_back=("/hget", {"hkey": hkey, "key": field})
        )

    async def hgetall(self, hkey: str) -> dict[str, JSONValue]:
        check_key(hkey, "hkey")
        what = f"hash {hkey!r}"
        result = await self._read("/hgetall", {"hkey": hkey}, what=what)
        if result is None:
            return {}
        if not isinstance(result, dict):
            raise StoreError(
                f"{self.name}: GET /hgetall for {what} answered {type(result).__name__}, "
                f"not an object; {_HINT}"
            )
        return result

    async def hget_many_json(self, hkey: str, fields: Sequence[str]) -> dict[str, str]:
        """One `hget` per field (the node has no batch read), `MANY_IN_FLIGHT` at a time."""
        check_key(hkey, "hkey")
        for field in fields:
            check_key(field, "field")  # before any call goes out
        gate = asyncio.Semaphore(MANY_IN_FLIGHT)

        async def one(field: str) -> JSONValue:
            async with gate:
                return await self.hget(hkey, field)

        values = await asyncio.gather(*(one(field) for field in fields))
        found = zip(fields, values, strict=True)
        return {f: json_text(v) for f, v in found if v is not None}

    async def hget_each(self, pairs: Sequence[tuple[str, str]]) -> list[JSONValue]:
        """One `hget` per pair, `MANY_IN_FLIGHT` at a time."""
        for hkey, field in pairs:
            check_key(hkey, "hkey")
            check_key(field, "field")
        gate = asyncio.Semaphore(MANY_IN_FLIGHT)

        async def one(hkey: str, field: str) -> JSONValue:
            async with gate:
                return await self.hget(hkey, field)

        return list(await asyncio.gather(*(one(hkey, field) for hkey, field in pairs)))

    async def hkeys_page(
        self, hkey: str, *, offset: int, limit: int, descending: bool = False
    ) -> tuple[list[str], int]:
        """From `hgetall`: the node has no key listing, and scans every key for a hash anyway."""
        check_page(offset, limit)
        fields = list(await self.hgetall(hkey))
        return page_of(fields, offset=offset, limit=limit, descending=descending), len(fields)

    async def hsync(self, hkey: str) -> dict[str, JSONValue]:
        """Ask the peers for their copy of `hkey` and merge it in (additive: nothing is pruned).

        Returns the node's answer `{"hkey", "source_peer", "merged_fields"}`. Raises StoreError when
        the node has no peers to ask or none answered.
        """
        check_key(hkey, "hkey")
        result = await self._node.call(
            "POST",
            "/hsync",
            what=f"hash {hkey!r}",
            timeout=self.write_timeout,
            json={"hkey": hkey, "chainstore_peers": list(self.peers)},
        )
        if not isinstance(result, dict):
            raise StoreError(f"{self.name}: POST /hsync for hash {hkey!r} answered {result!r}")
        return result

    async def close(self) -> None:
        await self._node.close()

    async def _read(self, path: str, params: dict[str, str], *, what: str) -> JSONValue:
        return await self._node.call(
            "GET", path, what=what, timeout=self.read_timeout, params=params
        )

    async def _write(
        self,
        path: str,
        body: dict[str, JSONValue],
        *,
        what: str,
        read_back: tuple[str, dict[str, str]],
    ) -> None:
        body = {**body, "chainstore_peers": list(self.peers)}
        attempts = 1 if self.accept_unconfirmed else self.retries + 1
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(backoff_delay(attempt - 1, self.backoff_seconds))
            result = await self._node.call(
                "POST", path, what=what, timeout=self.write_timeout, json=body
            )
            if result is True:
                return
            if result is not False:
                raise StoreError(
                    f"{self.name}: POST {path} for {what} answered {result!r} instead of "
                    f"true/false; {_HINT}"
                )
            if attempt + 1 < attempts:
                logger.warning(
                    "%s: no peer confirmed the write of %s; retrying (%d/%d)",
                    self.name,
                    what,
                    attempt + 1,
                    self.retries,
                )
        stored = await self._read(read_back[0], read_back[1], what=what)
        if stored != body["value"]:
            raise StoreError(
                f"{self.name} did not store {what}: it answered false and the node does not "
                "hold the value, which means it has no chainstore peers to replicate to. Set "
                "R1EN_CHAINSTORE_PEERS (a JSON array of node addresses) or check the node's "
                "peer whitelist"
            )
        if self.accept_unconfirmed:
            logger.warning(
                "%s kept %s locally but no peer confirmed it; accepted "
                "(DATAGEMS_CSTORE_ACCEPT_UNCONFIRMED=true)",
                self.name,
                what,
            )
            return
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        raise StoreUnconfirmed(
            f"{self.name} kept {what} on this node but no peer confirmed it after {tries}, so "
            "other nodes may not see it. Check that the peers in R1EN_CHAINSTORE_PEERS are "
            "online, or set DATAGEMS_CSTORE_ACCEPT_UNCONFIRMED=true to accept local-only writes"
        )
