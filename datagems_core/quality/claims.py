"""Cross-shard uniqueness: a job's shards claim record fingerprints and unique values in the store.

    datagen:job:{id}:claims   hash  claim -> candidate index that holds it   (first writer wins)

Shards of one job may run at once in different processes (peers), so an in-memory index cannot
see the other shards' records. Before accepting a candidate, a shard claims its exact fingerprint
and each unique-field value: a claim held by another index means a duplicate. The store has no
compare-and-set, so a claim is read, written if free, and read back: of two writers that race,
the later write wins and the earlier writer reads it back and yields. (Two writers whose
read-write-read sequences do not overlap at all cannot both see the claim free.) A claim written
by the same index again (a shard redoing an uncommitted candidate after a restart) is its own.
Only jobs with more than one shard pay for claims; one shard's index is complete in memory and
rebuilt from its checkpoints on resume.
"""

from __future__ import annotations

import hashlib

from datagems_core.jobs.repository import claims_hkey
from datagems_core.quality.gates import Fingerprints, Rejection
from datagems_core.store.base import KVStore


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
    for field, rejection in claim_fields(prints):
        holder = await store.hget(hkey, field)
        if holder is not None and holder != index:
            return rejection
        if holder is None:
            await store.hset(hkey, field, index)
            if await store.hget(hkey, field) != index:
                return rejection
    return None
