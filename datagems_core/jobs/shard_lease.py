"""One writer per shard: a lease in the store with a fencing token, checked on every write.

Prefect notices a dead worker (its flow run's heartbeats stop and the run is marked Crashed) and
can run the shard again elsewhere, but it cannot promise that the first writer is really gone: a
paused worker (a stopped VM, a long GC, a partition) may wake up and write. So a running shard
holds a lease, `{owner, token, expires_ms}` under the shard's lease key:

* `claim` takes it when it is free or expired, bumping the token; two claimers racing for the
  same lease both try to replace the same record and exactly one succeeds (`set_if`).
* The holder renews it every third of its time to live while it works.
* Every write the shard makes goes through `FencedStore`: a write lands only while the lease in
  the store still names this owner and token, in the same atomic step, so a writer whose lease
  was taken over raises `LeaseLost` instead of committing, however long it slept.

A taker-over starts from the shard's last checkpoint, which every earlier write was part of.
Expiry compares wall clocks of different machines: keep them in sync (NTP); the time to live
(`DATAGEMS_SHARD_LEASE_SECONDS`) should be well above any expected skew. Stores without an
atomic write (Ratio1 CStore, where each peer makes its own shard) run shards without a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass

from datagems_core.clock import now_ms
from datagems_core.errors import Conflict, StoreError
from datagems_core.store.base import GuardedWrites, JSONValue, KVStore, hash_field_key

log = logging.getLogger(__name__)


class LeaseLost(Conflict):
    """Another worker took this shard over; this one must stop without writing."""


class ShardBusy(Conflict):
    """Another live worker holds the shard's lease."""


def lease_key(job_id: str, shard_key: str) -> str:
    return f"datagen:job:{job_id}:shard:{shard_key}:lease"


def job_lease_key(job_id: str) -> str:
    """The lease of the job's own run (`generate-dataset`): one live job run per job."""
    return f"datagen:job:{job_id}:lease"


def shard_owner(run_id: str | None) -> str:
    """Who holds a lease, as the job page and logs show it: machine, process and run."""
    return f"{socket.gethostname()}:{os.getpid()}:{run_id or uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Lease:
    key: str
    owner: str
    token: int
    expires_ms: int
    taken_from: str | None = None  # the owner whose expired lease this claim took over

    def record(self) -> dict[str, JSONValue]:
        return {"owner": self.owner, "token": self.token, "expires_ms": self.expires_ms}

    def fence(self) -> dict[str, JSONValue]:
        """What must still be in the store for this holder to write."""
        return {"owner": self.owner, "token": self.token}


async def claim(
    store: KVStore,
    key: str,
    *,
    owner: str,
    ttl_seconds: float,
    clock: Callable[[], int] = now_ms,
) -> Lease | Mapping[str, JSONValue]:
    """Take the lease at `key` if free, expired or already `owner`'s; else the holder's record."""
    guarded = _guarded(store)
    current = await store.get(key)
    now = clock()
    expires = now + int(ttl_seconds * 1000)
    if current is None:
        lease = Lease(key=key, owner=owner, token=1, expires_ms=expires)
        expected: Mapping[str, JSONValue] | None = None
    elif not isinstance(current, dict) or not {"owner", "token", "expires_ms"} <= set(current):
        raise StoreError(f"the lease at {key!r} is not a lease record: {current!r}")
    else:
        held = int(str(current["token"]))
        if current["owner"] != owner and int(str(current["expires_ms"])) > now:
            return current
        # Expired, or ours (a retried claim whose answer was lost): the exact record must still
        # be there, so of two claimers replacing the same record only one wins.
        taken_from = None if current["owner"] == owner else str(current["owner"])
        token = held if taken_from is None else held + 1
        lease = Lease(key=key, owner=owner, token=token, expires_ms=expires, taken_from=taken_from)
        expected = current
    if await guarded.set_if(key, lease.record(), guard=key, expected=expected):
        return lease
    latest = await store.get(key)
    return latest if isinstance(latest, dict) else {"owner": None}


async def renew(
    store: KVStore, lease: Lease, *, ttl_seconds: float, clock: Callable[[], int] = now_ms
) -> Lease:
    """The lease with a new expiry; LeaseLost if someone else holds it now."""
    renewed = Lease(
        key=lease.key,
        owner=lease.owner,
        token=lease.token,
        expires_ms=clock() + int(ttl_seconds * 1000),
        taken_from=lease.taken_from,
    )
    fence = lease.fence()
    if not await _guarded(store).set_if(
        lease.key, renewed.record(), guard=lease.key, expected=fence
    ):
        raise LeaseLost(f"{lease.owner} lost the lease {lease.key} (token {lease.token})")
    return renewed


async def release(store: KVStore, lease: Lease) -> None:
    """Give the lease up (if still held) so the next claimer need not wait for its expiry."""
    await _guarded(store).set_if(lease.key, None, guard=lease.key, expected=lease.fence())


class FencedStore:
    """A KVStore whose every write lands only while `lease` still holds (else LeaseLost).

    >>> fenced = FencedStore(store, lease)
    >>> await fenced.hset(hkey, field, value)  # LeaseLost once another worker took over
    """

    def __init__(self, store: KVStore, lease: Lease) -> None:
        self.inner = store
        self._guarded = _guarded(store)
        self.lease = lease
        self.name = store.name

    async def set(self, key: str, value: JSONValue) -> None:
        await self._write(key, value)

    async def hset(self, hkey: str, field: str, value: JSONValue) -> None:
        await self._write(hash_field_key(hkey, field), value)

    async def get(self, key: str) -> JSONValue:
        return await self.inner.get(key)

    async def hget(self, hkey: str, field: str) -> JSONValue:
        return await self.inner.hget(hkey, field)

    async def hgetall(self, hkey: str) -> dict[str, JSONValue]:
        return await self.inner.hgetall(hkey)

    async def hget_many_json(self, hkey: str, fields: Sequence[str]) -> dict[str, str]:
        return await self.inner.hget_many_json(hkey, fields)

    async def hget_each(self, pairs: Sequence[tuple[str, str]]) -> list[JSONValue]:
        return await self.inner.hget_each(pairs)

    async def hkeys_page(
        self, hkey: str, *, offset: int, limit: int, descending: bool = False
    ) -> tuple[list[str], int]:
        return await self.inner.hkeys_page(hkey, offset=offset, limit=limit, descending=descending)

    async def close(self) -> None:
        """The inner store belongs to the caller."""

    async def _write(self, key: str, value: JSONValue) -> None:
        lease = self.lease
        if not await self._guarded.set_if(key, value, guard=lease.key, expected=lease.fence()):
            raise LeaseLost(
                f"shard writer {lease.owner} lost its lease {lease.key} (token {lease.token}) "
                "to another worker; its write was refused and it stops here"
            )


@contextlib.asynccontextmanager
async def hold_shard(
    store: KVStore,
    *,
    job_id: str,
    shard_key: str,
    owner: str,
    ttl_seconds: float,
    wait_seconds: float | None = None,
) -> AsyncIterator[KVStore]:
    """Hold the shard's lease while the block runs, renewing it; yield the fenced store.

    A lease held by another live owner is waited for until it expires (a dead worker's lease
    runs out; a live one's is renewed), at most `wait_seconds` (default twice the time to live),
    then ShardBusy. A store without atomic writes yields itself: no lease, as before.
    """
    async with hold_lease(
        store,
        key=lease_key(job_id, shard_key),
        owner=owner,
        ttl_seconds=ttl_seconds,
        wait_seconds=wait_seconds,
    ) as fenced:
        yield fenced


@contextlib.asynccontextmanager
async def hold_lease(
    store: KVStore,
    *,
    key: str,
    owner: str,
    ttl_seconds: float,
    wait_seconds: float | None = None,
) -> AsyncIterator[KVStore]:
    """`hold_shard` for any lease key (the job run's own lease too)."""
    if not isinstance(store, GuardedWrites):
        yield store
        return
    lease = await _claim_waiting(store, key, owner, ttl_seconds, wait_seconds or 2 * ttl_seconds)
    fenced = FencedStore(store, lease)
    renewer = asyncio.create_task(_keep_renewed(store, fenced, ttl_seconds))
    try:
        yield fenced
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        with contextlib.suppress(StoreError):
            await release(store, fenced.lease)


async def _claim_waiting(store: KVStore, key: str, owner: str, ttl: float, wait: float) -> Lease:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        got = await claim(store, key, owner=owner, ttl_seconds=ttl)
        if isinstance(got, Lease):
            if got.token > 1:
                log.warning("%s took over %s (token %d)", owner, key, got.token)
            return got
        left = deadline - loop.time()
        if left <= 0:
            raise ShardBusy(
                f"lease {key} is held by {got.get('owner')} (renewed while it works); "
                "another worker is running this work"
            )
        until_expiry = (int(str(got.get("expires_ms", 0))) - now_ms()) / 1000
        await asyncio.sleep(min(max(until_expiry, 0.2), left, ttl / 3))


async def _keep_renewed(store: KVStore, fenced: FencedStore, ttl: float) -> None:
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            fenced.lease = await renew(store, fenced.lease, ttl_seconds=ttl)
        except LeaseLost as exc:
            log.error("%s", exc.message)  # the next fenced write raises it in the shard loop
            return
        except StoreError as exc:
            log.warning("renewing %s failed, trying again: %s", fenced.lease.key, exc.message)


def unfenced(store: KVStore) -> KVStore:
    """The store under a shard's fence, for writes that need no lease (cross-shard claims)."""
    return store.inner if isinstance(store, FencedStore) else store


def _guarded(store: KVStore) -> GuardedWrites:
    if not isinstance(store, GuardedWrites):
        raise StoreError(
            f"{store.name} has no atomic write: shard leases need SQLite or PostgreSQL"
        )
    return store
