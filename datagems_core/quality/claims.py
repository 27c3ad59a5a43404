"""Cross-shard uniqueness: a job's shards claim record fingerprints and unique values in the store.

    datagen:job:{id}:claims   hash  claim -> candidate index that holds it   (first writer wins)

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

import hashlib

from datagems_core.jobs.repository import claims_hkey
from datagems_core.jobs.shard_lease import unfenced
from datagems_core.quality.gates import Fingerprints, Rejection
from datagems_core.store.base import GuardedWrites, KVStore, hash_field_key


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


async def claim(store: KVStore, job_id: str, index: int, prints: Fingerprints) -> Rejection | None:
    """Claim the candidate's fingerprints for `index`; the rejection when one is held by another."""
    hkey = claims_hkey(job_id)
    inner = unfenced(store)
    if isinstance(inner, GuardedWrites):
        for field, rejection in claim_fields(prints):
            key = hash_field_key(hkey, field)
            if not await inner.set_if(key, index, guard=key, expected=None):
                if await inner.hget(hkey, field) != index:
                    return rejection
        return None
    for field, rejection in claim_fields(prints):
        holder = await store.hget(hkey, field)
        if holder is not None and holder != index:
            return rejection
        if holder is None:
            await store.hset(hkey, field, index)
            if await store.hget(hkey, field) != index:
                return rejection
    return None
