"""The plan's files (omtx_hub.plan_artifact): written only where their content changed, and a
shard's spec read back only as the index recorded it."""

from __future__ import annotations

import json

import pytest

from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.plan_artifact import (
    PlanMismatch,
    changed_files,
    plan_path,
    read_plan,
    read_shard_spec,
    shard_spec_path,
)
from omtx_hub.store import LocalStore
from tests.screens import write_screen


def planned(tmp_path, **overrides):
    config = load_config(write_screen(tmp_path, shard_size=2, **overrides))
    plan = build_plan(config, LocalStore(config.store))
    return plan, LocalStore(tmp_path)


def test_the_plan_is_written_once_and_then_only_where_it_changed(tmp_path):
    plan, results = planned(tmp_path)
    written = plan.write(results)
    assert sorted(written) == sorted(
        [plan_path("s1"), *(shard_spec_path("s1", "P1", s) for s in ("00000", "00001", "00002"))]
    )
    assert plan.write(results) == []  # the same plan writes nothing
    # Another seed: every key changes, so every spec and the index.
    other, _ = planned(tmp_path, model={"seed": 1})
    assert sorted(other.write(results)) == sorted(written)
    index = read_plan(tmp_path / plan_path("s1"))
    assert index.target_count == 5 and index.seeds == [1]
    assert [(s.shard, s.targets) for s in index.shards] == [
        ("00000", 2),
        ("00001", 2),
        ("00002", 1),
    ]


def test_changed_files_compares_content():
    files = {"a.json": b"A", "b.json": b"B", "c.json": b"C"}
    existing = {"a.json": "7fc56270e7a70fa81a5935b72eacbe29", "b.json": "not the md5 of B"}
    assert changed_files(files, existing) == {"b.json": b"B", "c.json": b"C"}


def test_a_job_reads_only_the_spec_its_plan_recorded(tmp_path):
    plan, results = planned(tmp_path)
    plan.write(results)
    spec_path = tmp_path / shard_spec_path("s1", "P1", "00001")
    index = tmp_path / plan_path("s1")
    spec = read_shard_spec(spec_path, index, "P1", "00001")
    assert spec == plan.shard("P1", "00001")
    assert [t.key for t in spec.targets] == [t.key for t in plan.shard("P1", "00001").targets]
    # Another shard's spec in its place, and a spec edited after planning: both refused.
    with pytest.raises(PlanMismatch, match="the spec of shard P1/00000 .* is not the one"):
        read_shard_spec(spec_path, index, "P1", "00000")
    edited = json.loads(spec_path.read_text())
    edited["targets"][0]["smiles"] = "CCCl"
    spec_path.write_text(json.dumps(edited))
    with pytest.raises(PlanMismatch, match="Nothing was predicted; run the screen again"):
        read_shard_spec(spec_path, index, "P1", "00001")
    with pytest.raises(PlanMismatch, match=r"recorded \(no spec\)"):
        read_shard_spec(spec_path, index, "P9", "00001")
