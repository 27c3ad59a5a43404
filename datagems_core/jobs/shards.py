"""Split a job's records into contiguous shards: one per Ratio1 peer, or S for any worker."""

from __future__ import annotations

from dataclasses import dataclass

from datagems_core.config.settings import Settings
from datagems_core.errors import BadRequest, ConfigError

LOCAL_PEER = "local"
# The peer of a shard bound to none: its run goes to the work pool's `default` queue, which
# every `datagems worker` polls.
ANY_PEER = "default"
MAX_SHARDS = 64


@dataclass(frozen=True)
class PlannedShard:
    key: str
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Sharding:
    """A new job's shard keys, and whether each key is the Ratio1 peer that runs it."""

    keys: list[str]
    on_peers: bool


def plan_shards(total: int, peers: list[str]) -> list[PlannedShard]:
    """`base = total // n`, the first `total % n` peers get one more; ranges are half-open.

    >>> [(s.start, s.end) for s in plan_shards(10, ["a", "b", "c"])]
    [(0, 4), (4, 7), (7, 10)]
    """
    if not peers:
        raise ValueError("at least one peer is needed")
    if len(set(peers)) != len(peers):
        raise ConfigError(f"peer list has duplicates: {peers}")
    base, extra = divmod(total, len(peers))
    shards = []
    start = 0
    for position, peer in enumerate(peers):
        size = base + (1 if position < extra else 0)
        shards.append(PlannedShard(key=peer, start=start, end=start + size))
        start += size
    return shards


def peers_for(settings: Settings) -> list[str]:
    """The peers a new job is split over: `R1EN_CHAINSTORE_PEERS`, else this node alone."""
    if settings.chainstore_peers:
        return list(dict.fromkeys(settings.chainstore_peers))
    return [settings.host_addr or LOCAL_PEER]


def check_shards(shards: int | None, total_records: int) -> int | None:
    """A job definition's `shards`: 1..64 and at most its records (None: the default)."""
    if shards is None:
        return None
    if not 1 <= shards <= min(MAX_SHARDS, total_records):
        raise BadRequest(
            f"shards must be between 1 and {min(MAX_SHARDS, total_records)} (at most "
            f"{MAX_SHARDS} and at most totalRecords), got {shards}",
            details={"field": "shards", "max": min(MAX_SHARDS, total_records)},
        )
    return shards


def sharding_for(settings: Settings, total_records: int, shards: int | None = None) -> Sharding:
    """How a new job splits: one shard per peer with ≥2 Ratio1 peers (as the seed does), else
    `shards` (default `DATAGEMS_SHARDS`, at most one per record) keyed `s0..s{S-1}`."""
    peers = peers_for(settings)
    if len(peers) >= 2:
        return Sharding(keys=peers, on_peers=True)
    count = min(shards or settings.shards, max(total_records, 1))
    if count <= 1:
        return Sharding(keys=peers, on_peers=True)
    return Sharding(keys=[f"s{i}" for i in range(count)], on_peers=False)


def this_peer(settings: Settings) -> str:
    return settings.host_addr or LOCAL_PEER
