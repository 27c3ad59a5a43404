"""Cross-shard uniqueness: a job's shards claim record fingerprints and unique values in the store.

    datagen:job:{id}:claims   hash  claim -> candidate index that holds it   (first writer wins)
        x:{fingerprint}          an exact record
        u:{field}:{digest}       a unique field's value
        n:{band}:{digest}        a MinHash LSH band (near duplicates; bands as datasketch picks)
        s:{index}                that candidate's MinHash signature, to confirm a near duplicate

Shards of one job may run at once in different processes (peers), so an in-memory index cannot
see the other shards' records. Before accepting a candidate, a shard claims its exact fingerprint
and each unique-field value: a claim held by another index means a duplicate.

On a store with an atomic write (SQLite, PostgreSQL: `set_if`) a claim is written only if absent,
so of two shards racing for one claim exactly one wins, however their calls interleave. Ratio1
CStore has no compare-and-set: there a claim is read, written if free, and read back, and of two
writers that race the later write wins and the earlier reads it back and yields (two writers
whose read-write-read sequences overlap can both win; CStore jobs run one shard per peer, each
on its own gateway, where that window is small). A claim written by the same index again (a
shard redoing an uncommitted candidate after a restart) is its own. Claims are reservations, not
fenced by the shard's lease: a writer that lost its lease may leave a claim for a candidate that
never lands, which can only make a later look-alike count as a duplicate.
Only jobs with more than one shard pay for claims; one shard's index is complete in memory and
rebuilt from its checkpoints on resume.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import numpy as np
from datasketch import MinHashLSH

from datagems_core.jobs.repository import claims_hkey
from datagems_core.jobs.shard_lease import unfenced
from datagems_core.quality.gates import Fingerprints, Rejection
from datagems_core.store.base import GuardedWrites, JSONValue, KVStore, hash_field_key


def claim_fields(prints: Fingerprints) -> list[tuple[str, Rejection]]:
    """Each claim a candidate needs, with the rejection it gets when another holds it."""
    fields = [
        ("x:" + prints.exact, Rejection("duplicate", "an identical record is in another shard"))
    ]
    for name, value in prints.unique.items():
        digest = hashlib.blake2b(value.encode(), digest_size=16).hexdigest()
        fields.append(
            (
                f"u:{name}:{digest}",
                Rejection("unique", f"$.{name}: the value {value!r} is already used"),
            )
        )
    return fields


async def claim(
    store: KVStore,
    job_id: str,
    index: int,
    prints: Fingerprints,
    *,
    near_threshold: float | None = None,
) -> Rejection | None:
    """Claim the candidate's fingerprints for `index`; the rejection when one is held by another.
    With `near_threshold`, its MinHash bands too: a band held by a record at least that similar
    (by the holder's stored signature) makes the candidate a near duplicate."""
    hkey = claims_hkey(job_id)
    for field, rejection in claim_fields(prints):
        if await _take(store, hkey, field, index) != index:
            return rejection
    if near_threshold is None or prints.minhash is None:
        return None
    return await _claim_bands(store, hkey, index, prints.minhash.hashvalues, near_threshold)


async def _claim_bands(
    store: KVStore, hkey: str, index: int, hashvalues: Any, threshold: float
) -> Rejection | None:
    """LSH across shards: the signature is written first, so whoever finds a band taken can
    compare with its holder; bands are claimed in order, so of two look-alikes racing, the one
    that loses the first band they share yields."""
    signature = np.asarray(hashvalues, dtype=np.uint32)
    await store.hset(hkey, f"s:{index}", signature.tobytes().hex())
    bands, rows = _band_shape(threshold, len(signature))
    for band in range(bands):
        digest = hashlib.blake2b(
            signature[band * rows : (band + 1) * rows].tobytes(), digest_size=16
        )
        holder = await _take(store, hkey, f"n:{band}:{digest.hexdigest()}", index)
        if holder == index or not isinstance(holder, int):
            continue
        theirs = await store.hget(hkey, f"s:{holder}")
        if not isinstance(theirs, str):
            continue
        similarity = float(np.mean(np.frombuffer(bytes.fromhex(theirs), np.uint32) == signature))
        if similarity >= threshold:
            return Rejection(
                "near_duplicate",
                f"nearly the same text as a record of another shard (Jaccard ≈ {similarity:.2f})",
            )
    return None


@functools.cache
def _band_shape(threshold: float, num_perm: int) -> tuple[int, int]:
    """The bands and rows datasketch chooses for the threshold, as the local index uses."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


async def _take(store: KVStore, hkey: str, field: str, index: int) -> JSONValue:
    """Write `index` at the claim if it is free; the claim's holder afterwards."""
    inner = unfenced(store)
    if isinstance(inner, GuardedWrites):
        key = hash_field_key(hkey, field)
        if await inner.set_if(key, index, guard=key, expected=None):
            return index
        return await inner.hget(hkey, field)
    holder = await store.hget(hkey, field)
    if holder is None:
        await store.hset(hkey, field, index)
        holder = await store.hget(hkey, field)
    return holder
