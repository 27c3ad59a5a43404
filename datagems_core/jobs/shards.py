"""Split a job's records into contiguous shards, one per peer, as the seed splits them."""

from __future__ import annotations

from dataclasses import dataclass

from datagems_core.config.settings import Settings
from datagems_core.errors import ConfigError

LOCAL_PEER = "local"


@dataclass(frozen=True)
class PlannedShard:
    key: str
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return self.end - self.start


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


def this_peer(settings: Settings) -> str:
    return settings.host_addr or LOCAL_PEER
