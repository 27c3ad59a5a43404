"""Cross-shard claims on every store with atomic writes (memory, SQLite, a real PostgreSQL): of
shards racing for one record or unique value, exactly one wins, however their calls interleave."""

from __future__ import annotations

import asyncio
import uuid

from datagems_core.jobs.shard_lease import FencedStore, Lease, lease_key
from datagems_core.jobs.shard_lease import claim as claim_lease
from datagems_core.quality.claims import claim
from datagems_core.quality.gate_config import GateConfig
from datagems_core.quality.gates import GateIndex
from datagems_core.store.base import JSONValue, KVStore

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}


class Interleaving:
    """A store whose calls yield to the event loop (its writes after `write_delay` seconds), so
    racing claimers interleave: the slow writer reads a claim free, then writes it after the fast
    one has written and read it back (the window a read-write-read claim cannot close)."""

    def __init__(self, inner: KVStore, write_delay: float = 0.0) -> None:
        self.inner, self.write_delay = inner, write_delay

    def __getattr__(self, name: str):  # every other method is the inner store's
        return getattr(self.inner, name)

    async def hget(self, hkey: str, field: str) -> JSONValue:
        await asyncio.sleep(0)
        value = await self.inner.hget(hkey, field)
        await asyncio.sleep(0)
        return value

    async def hset(self, hkey: str, field: str, value: JSONValue) -> None:
        await asyncio.sleep(self.write_delay)
        await self.inner.hset(hkey, field, value)

    async def set_if(self, key: str, value: JSONValue, **guard: object) -> bool:
        await asyncio.sleep(self.write_delay)
        return await self.inner.set_if(key, value, **guard)  # type: ignore[attr-defined]


def _prints(name: str, unique: tuple[str, ...] = ("name",)):
    index = GateIndex(GateConfig(unique_fields=list(unique), near_duplicate_threshold=None), SCHEMA)
    return index.fingerprint({"name": name})


async def test_of_shards_racing_for_a_claim_exactly_one_wins(stores):
    a, b = Interleaving(stores[0]), Interleaving(stores[1], write_delay=0.02)
    job_id = f"job_{uuid.uuid4().hex[:8]}"
    for round_ in range(20):
        prints = _prints(f"Ann {round_}", unique=() if round_ % 2 else ("name",))
        results = await asyncio.gather(
            claim(a, job_id, 2 * round_, prints), claim(b, job_id, 2 * round_ + 1, prints)
        )
        assert sum(r is None for r in results) == 1, results
        loser = next(r for r in results if r is not None)
        assert loser.gate in {"duplicate", "unique"}


async def test_a_claim_is_its_own_when_the_same_index_claims_again(stores):
    a, b = stores
    job_id = f"job_{uuid.uuid4().hex[:8]}"
    prints = _prints("Bo")
    assert await claim(a, job_id, 7, prints) is None
    assert await claim(b, job_id, 7, prints) is None  # a shard redoing an uncommitted candidate
    rejection = await claim(b, job_id, 8, prints)
    assert rejection is not None and rejection.gate == "duplicate"


async def test_a_fenced_shard_claims_through_its_fence(stores):
    a, _ = stores
    job_id = f"job_{uuid.uuid4().hex[:8]}"
    lease = await claim_lease(a, lease_key(job_id, "0"), owner="w1", ttl_seconds=30)
    assert isinstance(lease, Lease)
    fenced = FencedStore(a, lease)
    assert await claim(fenced, job_id, 1, _prints("Cy")) is None
    assert (await claim(a, job_id, 2, _prints("Cy"))) is not None


def _near_prints(text: str):
    return GateIndex(GateConfig(), SCHEMA).fingerprint({"name": text})


BIO = "Runs a small bakery by the harbour and sings in the choir on Sundays with her sister"


async def test_a_near_duplicate_in_another_shard_is_refused_and_a_different_record_is_not(stores):
    a, b = stores
    job_id = f"job_{uuid.uuid4().hex[:8]}"
    assert await claim(a, job_id, 1, _near_prints(BIO), near_threshold=0.9) is None
    rejection = await claim(b, job_id, 2, _near_prints(BIO + "."), near_threshold=0.9)
    assert rejection is not None and rejection.gate == "near_duplicate"
    other = _near_prints("Repairs vintage motorcycles in a garage outside the city walls")
    assert await claim(b, job_id, 3, other, near_threshold=0.9) is None
    assert await claim(b, job_id, 4, _near_prints(BIO + "!"), near_threshold=None) is None


async def test_of_look_alikes_racing_in_two_shards_at_most_one_is_accepted(stores):
    a, b = Interleaving(stores[0]), Interleaving(stores[1], write_delay=0.01)
    job_id = f"job_{uuid.uuid4().hex[:8]}"
    for round_ in range(10):
        text = f"{BIO} number {round_}"
        results = await asyncio.gather(
            claim(a, job_id, 2 * round_, _near_prints(text), near_threshold=0.9),
            claim(b, job_id, 2 * round_ + 1, _near_prints(text + "."), near_threshold=0.9),
        )
        assert sum(r is None for r in results) <= 1, results
