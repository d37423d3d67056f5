"""The canary of a remote run (omtx_hub.canary): which shard it is, what it measured, and the
estimate of the other shards with those numbers. The run itself (one VM first, then the
fan-out; a failing canary is the only VM) is in tests/cloud/test_googlebatch.py."""

from __future__ import annotations

import random

import pytest

from omtx_hub.canary import (
    canary_report,
    canary_shards,
    check_fan_out,
    describe,
    measured_times,
)
from omtx_hub.config import load_config
from omtx_hub.cost import BudgetExceeded
from omtx_hub.plan import build_plan
from omtx_hub.records import MachineSeen, ShardManifest, read_canary, write_canary
from omtx_hub.store import LocalStore
from omtx_hub.testing.synthetic import computed_entry
from tests.screens import write_screen

COST = {"gpu_hourly_usd": 0.36, "seconds_per_target": 20, "startup_s_per_shard": 300}
L4 = MachineSeen(
    gpu="NVIDIA L4",
    torch="2.5.1+cu124",
    torch_cuda="12.4",
    driver="NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.90.07",
    vm_startup_s=240.0,
)


@pytest.fixture
def plan(tmp_path):
    config = load_config(write_screen(tmp_path, shard_size=2, cost=COST))
    return build_plan(config, LocalStore(config.store))


def canary_manifest(plan, commits: list[float], machine: MachineSeen | None = L4):
    """The first shard's manifest, its targets committed `commits` seconds after Boltz
    started."""
    (protein, shard), spec = next(iter(plan.shards.items()))
    rng = random.Random(0)
    entries = []
    for target, seconds in zip(spec.targets, commits, strict=False):
        entry = computed_entry(plan, protein, target, False, rng)
        entries.append(entry.model_copy(update={"seconds_since_shard_start": seconds}))
    return ShardManifest(
        screen=plan.screen,
        protein=protein,
        shard=shard,
        targets=len(spec.targets),
        reused=0,
        computed=len(entries),
        failed=0,
        boltz_wall_s=max(commits, default=0.0),
        job_wall_s=max(commits, default=0.0) + 10,
        records=entries,
        **({"machine": machine} if machine else {}),
    )


def test_the_canary_is_the_first_shard_with_work():
    shards = [("P1", "00000"), ("P1", "00001"), ("P2", "00000")]
    boltz = {"P1": "boltz2", "P2": "boltz2"}.get
    assert canary_shards(shards, [], boltz) == {"boltz2": ("P1", "00000")}
    assert canary_shards(shards, [("P1", "00000")], boltz) == {"boltz2": ("P1", "00001")}
    # Every shard's targets in the store: nothing needs a GPU, no canary.
    assert canary_shards(shards, shards, boltz) == {}


def test_each_engine_has_its_own_canary():
    shards = [("P1", "00000"), ("P1", "00001"), ("P1_chai1", "00000"), ("P1_chai1", "00001")]
    engine_of = {"P1": "boltz2", "P1_chai1": "chai1"}.get
    assert canary_shards(shards, [], engine_of) == {
        "boltz2": ("P1", "00000"),
        "chai1": ("P1_chai1", "00000"),
    }
    # Boltz-2's shards all stored: only Chai-1's image has to prove itself.
    assert canary_shards(shards, shards[:2], engine_of) == {"chai1": ("P1_chai1", "00000")}


def test_seconds_per_target_and_model_load_from_the_commit_times(plan):
    # Boltz started, loaded the model (90 s), then one target every 25 s.
    assert measured_times(canary_manifest(plan, [115.0, 140.0])) == (25.0, 90.0)
    # One target cannot tell the model load from the target's time.
    assert measured_times(canary_manifest(plan, [115.0])) == (None, None)


def test_the_other_shards_are_estimated_with_the_canary_numbers(plan, tmp_path):
    manifest = canary_manifest(plan, [115.0, 140.0])
    # Two other shards of 2 targets each, 3 attempts each at most.
    report = canary_report(
        manifest, "boltz2", [2, 2], plan.target_count, plan.config.cost, attempts=3
    )
    assert (report.seconds_per_target, report.model_load_s) == (25.0, 90.0)
    # Start-up: the VM's 240 s before the job, then the model load.
    assert report.startup_s_per_shard == 330.0
    assert report.estimate.splitlines()[:2] == [
        f"4 of {plan.target_count} targets to predict, in 2 shard job(s)",
        "estimated GPU time 0.21 h = 4 x 25 s + 2 x 330 s start-up",
    ]
    # (4 x 25 + 2 x 330) s at $0.36/h, 3 attempts.
    assert report.estimated_worst_case_usd == pytest.approx(round(760 / 3600 * 0.36 * 3, 2))
    text = describe(report)
    assert text.startswith(f"Canary shard {manifest.protein}/{manifest.shard} succeeded:")
    assert "GPU NVIDIA L4; torch 2.5.1+cu124 built for CUDA 12.4; NVIDIA driver: NVRM" in text
    assert "image digest not known; VM start-up 240 s" in text
    digest = "sha256:" + "ab" * 32
    with_digest = canary_report(
        manifest,
        "boltz2",
        [2, 2],
        plan.target_count,
        plan.config.cost,
        attempts=3,
        image_digest=digest,
    )
    assert f"image digest {digest} (the registry's, for the tag); VM start-up" in describe(
        with_digest
    )
    assert "25 s per target, 90 s model load (measured on 2 targets)" in text
    path = tmp_path / "canary.json"
    write_canary(report, path)
    assert read_canary(path) == report


def test_what_the_canary_did_not_measure_keeps_the_configured_numbers(plan):
    report = canary_report(
        canary_manifest(plan, [115.0], machine=None),
        "boltz2",
        [2],
        plan.target_count,
        plan.config.cost,
        1,
    )
    assert (report.seconds_per_target, report.startup_s_per_shard) == (None, 300)
    assert "2 x 20 s + 1 x 300 s start-up" in report.estimate
    assert "seconds per target not measured (1 target(s) predicted)" in describe(report)


def test_an_engine_the_canary_did_not_time_keeps_that_engines_configured_rate(plan):
    """A Chai-1 canary that predicted one target: its other shards are estimated at Chai-1's
    configured seconds per target, not Boltz-2's."""
    cost = plan.config.cost.model_copy(update={"engine_seconds_per_target": {"chai1": 70}})
    manifest = canary_manifest(plan, [115.0], machine=None)
    report = canary_report(manifest, "chai1", [2], plan.target_count, cost, 1)
    assert "= 2 x 70 s + 1 x 300 s start-up" in report.estimate
    timed = canary_report(canary_manifest(plan, [115.0, 140.0]), "chai1", [2], 5, cost, 1)
    assert "= 2 x 25 s + 1 x 330 s start-up" in timed.estimate


def test_a_budget_the_measured_numbers_exceed_stops_the_fan_out(plan):
    cost = plan.config.cost.model_copy(update={"budget_usd": 0.05})
    manifest = canary_manifest(plan, [115.0, 140.0])
    report = canary_report(manifest, "boltz2", [2, 2], plan.target_count, cost, attempts=3)
    with pytest.raises(BudgetExceeded, match=r"only the canary ran .* no other shard was"):
        check_fan_out(report, cost)
    check_fan_out(report, cost.model_copy(update={"allow_over_budget": True}))
    check_fan_out(report, cost.model_copy(update={"budget_usd": 1.0}))
