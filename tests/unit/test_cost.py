"""Cost before a run (pending work, budget) and after it (summary.json's `gpu`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from omtx_hub.config import ConfigError, Cost, load_config
from omtx_hub.cost import BudgetExceeded, check_budget, estimate, spent
from omtx_hub.plan import build_plan
from omtx_hub.store import LocalStore
from tests.screens import write_config_file, write_screen
from tests.unit.test_consensus_config import consensus_screen

COST = {"gpu_hourly_usd": 0.36, "seconds_per_target": 20, "startup_s_per_shard": 300}


def plan_and_store(tmp_path, **cost):
    config = load_config(write_screen(tmp_path, shard_size=2, cost={**COST, **cost}))
    store = LocalStore(config.store)
    return build_plan(config, store), store


def test_estimate_counts_only_what_the_store_lacks(tmp_path):
    plan, store = plan_and_store(tmp_path)  # 5 ligands in shards of 2, 2, 1
    first = estimate(plan, plan.stored_keys(store))
    assert (first.targets, first.pending_targets, first.pending_shards) == (5, 5, 3)
    assert first.gpu_seconds == 5 * 20 + 3 * 300
    assert first.cost_usd == pytest.approx(1000 / 3600 * 0.36)

    # The first shard's two targets are in the store (a previous run, another screen).
    for target in plan.shard("P1", "00000").targets:
        store.commit(target.key, {}, {"status": "completed"})
    stored = plan.stored_keys(store)
    assert plan.stored_shards(stored) == [("P1", "00000")]
    second = estimate(plan, stored)
    assert (second.pending_targets, second.pending_shards) == (3, 2)
    assert second.gpu_seconds == 3 * 20 + 2 * 300


def test_budget_refuses_unless_overridden(tmp_path):
    plan, store = plan_and_store(tmp_path, budget_usd=0.05)
    pending = estimate(plan, plan.stored_keys(store))  # $0.10
    with pytest.raises(BudgetExceeded, match=r"\$0.10 exceeds cost.budget_usd \$0.05"):
        check_budget(pending, plan.config.cost)
    check_budget(pending, plan.config.cost.model_copy(update={"allow_over_budget": True}))
    check_budget(pending, plan.config.cost.model_copy(update={"budget_usd": 0.2}))


def test_budget_counts_every_retry_in_the_worst_case(tmp_path):
    plan, store = plan_and_store(tmp_path, budget_usd=0.25)
    once = estimate(plan, plan.stored_keys(store))  # $0.10 for 3 shards
    check_budget(once, plan.config.cost)
    # 4 attempts of each shard (sharding.attempts: 4), each billed in full.
    retried = estimate(plan, plan.stored_keys(store), attempts=4)
    assert retried.cost_usd == once.cost_usd
    assert retried.worst_case_cost_usd == pytest.approx(4 * once.cost_usd)
    assert "worst case $0.40: every shard run 4 times" in retried.describe(plan.config.cost)
    with pytest.raises(BudgetExceeded, match=r"worst-case cost \$0.40 exceeds cost.budget_usd"):
        check_budget(retried, plan.config.cost)


def test_cost_keys_are_validated(tmp_path):
    raw = write_screen(tmp_path, cost={"gpu_hourly_usd": 0, "budjet_usd": 5})
    with pytest.raises(ConfigError) as error:
        load_config(raw)
    assert "config key 'cost.gpu_hourly_usd': Input should be greater than 0" in str(error.value)
    assert "config key 'cost.budjet_usd': unknown key" in str(error.value)


def test_spent_from_shard_manifests():
    shards = [
        {"computed": 2, "failed": 0, "boltz_wall_s": 40.0, "job_wall_s": 50.0},
        {"computed": 0, "failed": 0, "boltz_wall_s": 0.0, "job_wall_s": 5.0},  # all reused
    ]
    gpu = spent(shards, Cost(**COST))
    assert gpu.seconds_per_computed_target == 20.0
    assert gpu.job_seconds == 55.0
    assert gpu.cost_usd_jobs == pytest.approx(55 / 3600 * 0.36, abs=1e-4)
    assert gpu.startup_seconds_assumed == 300  # one shard ran Boltz
    assert gpu.cost_usd_with_startup == pytest.approx(355 / 3600 * 0.36, abs=1e-4)
    assert (gpu.retried_shards, gpu.earlier_attempts) == (0, 0)


def test_spent_gives_each_engines_seconds_per_target_in_a_screen_of_two():
    shards = [
        {"protein": "P1", "computed": 2, "failed": 0, "boltz_wall_s": 40.0, "job_wall_s": 50.0},
        {"protein": "P1_chai1", "computed": 2, "failed": 0, "boltz_wall_s": 90.0, "job_wall_s": 99},
        {"protein": "P1_chai1", "computed": 1, "failed": 0, "boltz_wall_s": 60.0, "job_wall_s": 70},
    ]
    engines = {"P1": "boltz2", "P1_chai1": "chai1"}
    gpu = spent(shards, Cost(**COST), engines)
    assert gpu.seconds_per_computed_target == 38.0  # 190 s / 5
    assert gpu.seconds_per_computed_target_by_engine == {"boltz2": 20.0, "chai1": 50.0}
    alone = spent(shards, Cost(**COST)).model_dump(exclude_unset=True)
    assert "seconds_per_computed_target_by_engine" not in alone


def test_spent_counts_the_attempts_before_a_retried_shard():
    shards = [
        {"computed": 2, "failed": 0, "boltz_wall_s": 40.0, "job_wall_s": 50.0, "attempt": 3},
        {"computed": 1, "failed": 0, "boltz_wall_s": 20.0, "job_wall_s": 25.0, "attempt": 1},
    ]
    gpu = spent(shards, Cost(**COST))
    assert (gpu.retried_shards, gpu.earlier_attempts) == (1, 2)
    # Two shards started Boltz, and two preempted/failed attempts started a VM each.
    assert gpu.startup_seconds_assumed == 4 * 300


def test_estimate_command(tmp_path, repo):
    raw = write_screen(tmp_path, shard_size=2, cost={**COST, "budget_usd": 0.05})
    config = write_config_file(tmp_path, raw)
    output = subprocess.run(
        [sys.executable, "-m", "omtx_hub.cli", "estimate", "--configfile", str(config)],
        cwd=repo,
        capture_output=True,
        text=True,  # it runs where snakemake runs
    )
    assert output.returncode == 1
    assert "5 of 5 targets to predict, in 3 shard job(s)" in output.stdout
    assert "estimated cost $0.10 at $0.36/h" in output.stdout
    assert "exceeds cost.budget_usd" in output.stderr


def test_a_screen_of_two_engines_is_estimated_at_each_engines_rate(tmp_path):
    """P1 by Boltz-2 at `seconds_per_target`, P1_chai1 by Chai-1 at its own
    (`engine_seconds_per_target`): 5 ligands in shards of 2, 2, 1 for each protein."""
    raw = consensus_screen(tmp_path)
    raw["cost"] = {**COST, "engine_seconds_per_target": {"chai1": 50}}
    config = load_config(raw)
    store = LocalStore(config.store)
    plan = build_plan(config, store)
    found = estimate(plan, plan.stored_keys(store))
    assert found.pending_by_engine == {"boltz2": 5, "chai1": 5}
    assert found.gpu_seconds == 5 * 20 + 5 * 50 + 6 * 300
    assert "= 5 x 20 s (boltz2) + 5 x 50 s (chai1) + 6 x 300 s start-up" in found.describe(
        config.cost
    )
    # Chai-1's targets in the store: only Boltz-2's remain, described as a one-engine screen's.
    for name in plan.shards:
        if name[0] == "P1_chai1":
            for target in plan.shard(*name).targets:
                store.commit(target.key, {}, {"status": "completed"})
    rest = estimate(plan, plan.stored_keys(store))
    assert (rest.pending_by_engine, rest.gpu_seconds) == ({"boltz2": 5}, 5 * 20 + 3 * 300)
    assert "= 5 x 20 s + 3 x 300 s start-up" in rest.describe(config.cost)


def test_an_engines_rate_is_checked(tmp_path):
    raw = write_screen(tmp_path, cost={"engine_seconds_per_target": {"chai1": 0, "af3": 9}})
    with pytest.raises(ConfigError) as error:
        load_config(raw)
    message = str(error.value)
    assert "config key 'cost.engine_seconds_per_target.chai1'" in message
    # A mapping's key: pydantic names the mapping and what its keys may be.
    assert "config key 'cost.engine_seconds_per_target': Input should be 'boltz2' or" in message
