"""Shard planning: contiguous ranges over peers, as the seed splits them."""

from __future__ import annotations

import pytest

from datagems_core.config.settings import load_settings
from datagems_core.errors import ConfigError
from datagems_core.jobs.shards import peers_for, plan_shards


def test_plan_shards_splits_like_the_seed():
    assert [(s.key, s.start, s.end) for s in plan_shards(10, ["a", "b", "c"])] == [
        ("a", 0, 4),
        ("b", 4, 7),
        ("c", 7, 10),
    ]


def test_plan_shards_gives_empty_shards_when_records_are_fewer_than_peers():
    sizes = [s.size for s in plan_shards(2, ["a", "b", "c"])]
    assert sizes == [1, 1, 0]


def test_plan_shards_refuses_duplicate_peers():
    with pytest.raises(ConfigError):
        plan_shards(3, ["a", "a"])


def test_peers_for_uses_the_peer_list_else_this_node(tmp_path):
    assert peers_for(load_settings(None, data_dir=tmp_path)) == ["local"]
    settings = load_settings(None, data_dir=tmp_path, chainstore_peers='["p1", "p2"]')
    assert peers_for(settings) == ["p1", "p2"]
