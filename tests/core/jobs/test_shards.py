"""Shard planning: contiguous ranges over peers, as the seed splits them."""

from __future__ import annotations

import pytest

from datagems_core.config.settings import load_settings
from datagems_core.errors import BadRequest, ConfigError
from datagems_core.jobs.shards import (
    Sharding,
    check_shards,
    peers_for,
    plan_shards,
    sharding_for,
)


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


def test_sharding_for_splits_over_any_worker_unless_there_are_peers(tmp_path):
    settings = load_settings(None, data_dir=tmp_path)
    assert sharding_for(settings, 10) == Sharding(keys=["local"], on_peers=True)
    assert sharding_for(settings, 10, 3) == Sharding(keys=["s0", "s1", "s2"], on_peers=False)
    assert sharding_for(settings, 2, 5).keys == ["s0", "s1"]  # never more shards than records
    by_default = load_settings(None, data_dir=tmp_path, shards=4)
    assert sharding_for(by_default, 10).keys == ["s0", "s1", "s2", "s3"]
    on_peers = load_settings(None, data_dir=tmp_path, chainstore_peers='["p1", "p2"]')
    assert sharding_for(on_peers, 10, 5) == Sharding(keys=["p1", "p2"], on_peers=True)


@pytest.mark.parametrize("shards", [0, 11, 65])
def test_check_shards_names_the_field(shards):
    with pytest.raises(BadRequest, match="shards") as raised:
        check_shards(shards, 10 if shards != 65 else 1000)
    assert raised.value.details["field"] == "shards"
    assert check_shards(None, 10) is None and check_shards(10, 10) == 10
