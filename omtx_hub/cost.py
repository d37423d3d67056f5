"""What a screen costs on GPUs, before it runs (estimate, budget) and after (summary.json).

Before: the pending work is every target the result store does not have yet; each costs
its engine's GPU seconds (`cost.seconds_per_target`, or `cost.engine_seconds_per_target`'s
for that engine: a screen of two engines has each protein's shards predicted by its own),
and every shard that has one costs a VM start-up
(`cost.startup_s_per_shard`: boot, GPU driver, image pull, model load). In the worst case
every attempt Snakemake may make of a shard (a preempted VM or a failure, then its retries)
runs to the end and is billed in full: the budget is checked against that. After: the shard
manifests record how long each job and its `boltz predict` ran, and which attempt it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from omtx_hub.config import ConfigError, Cost
from omtx_hub.summary import GpuSpent

if TYPE_CHECKING:  # a plan is planned above this module's layer
    from omtx_hub.plan import Plan


class BudgetExceeded(ConfigError):
    """The estimate of the pending work is above `cost.budget_usd`."""


def usd(seconds: float, hourly_usd: float) -> float:
    return seconds / 3600 * hourly_usd


@dataclass(frozen=True)
class Estimate:
    targets: int
    # The pending targets by the engine that predicts them.
    pending_by_engine: dict[str, int]
    pending_shards: int
    gpu_seconds: float
    cost_usd: float
    # Attempts Snakemake may make of each shard job (1 + its retries).
    attempts: int = 1

    @property
    def pending_targets(self) -> int:
        return sum(self.pending_by_engine.values())

    @property
    def worst_case_cost_usd(self) -> float:
        """Every attempt of every pending shard runs to the end and is billed (what a
        preempted attempt costs before it is stopped is at most that)."""
        return self.cost_usd * self.attempts

    def describe(self, cost: Cost) -> str:
        engines = self.pending_by_engine
        predictions = (
            " + ".join(
                f"{count} x {cost.seconds_per_target_of(engine):g} s"
                + (f" ({engine})" if len(engines) > 1 else "")
                for engine, count in engines.items()
            )
            or f"0 x {cost.seconds_per_target:g} s"
        )
        lines = [
            f"{self.pending_targets} of {self.targets} targets to predict, in "
            f"{self.pending_shards} shard job(s)",
            f"estimated GPU time {self.gpu_seconds / 3600:.2f} h = {predictions} + "
            f"{self.pending_shards} x {cost.startup_s_per_shard:g} s start-up",
            f"estimated cost ${self.cost_usd:.2f} at ${cost.gpu_hourly_usd:g}/h",
        ]
        if self.attempts > 1:
            lines.append(
                f"worst case ${self.worst_case_cost_usd:.2f}: every shard run {self.attempts} "
                "times (first attempt and retries, each preempted or failed at its end)"
            )
        if cost.budget_usd is not None:
            lines.append(f"budget ${cost.budget_usd:.2f} (cost.budget_usd)")
        return "\n".join(lines)


def estimate(plan: Plan, stored_keys: frozenset[str], attempts: int = 1) -> Estimate:
    """The pending work of `plan` when the store holds `stored_keys` (Plan.stored_keys);
    `attempts`: how often a shard job may run (1 + Snakemake's retries of it)."""
    pending_per_shard = [
        (
            plan.config.engine_of(protein),
            sum(key not in stored_keys for key in plan.shard_keys(protein, shard)),
        )
        for protein, shard in plan.shards
    ]
    return estimate_pending(pending_per_shard, plan.target_count, plan.config.cost, attempts)


def estimate_pending(
    pending_per_shard: Sequence[tuple[str, int]], targets: int, cost: Cost, attempts: int = 1
) -> Estimate:
    """The cost of predicting, in each shard, its (engine, number of pending targets) (of
    `targets` in the screen) at `cost`'s rates and times."""
    by_engine: dict[str, int] = {}
    for engine, count in pending_per_shard:
        if count:
            by_engine[engine] = by_engine.get(engine, 0) + count
    pending_shards = sum(count > 0 for _, count in pending_per_shard)
    gpu_seconds = (
        sum(count * cost.seconds_per_target_of(engine) for engine, count in by_engine.items())
        + pending_shards * cost.startup_s_per_shard
    )
    return Estimate(
        targets=targets,
        pending_by_engine=by_engine,
        pending_shards=pending_shards,
        gpu_seconds=gpu_seconds,
        cost_usd=usd(gpu_seconds, cost.gpu_hourly_usd),
        attempts=attempts,
    )


def check_budget(estimate: Estimate, cost: Cost) -> None:
    """Raise BudgetExceeded when the worst case (every retry used) is above the budget and
    no override is set."""
    worst_case = estimate.worst_case_cost_usd
    if cost.budget_usd is None or worst_case <= cost.budget_usd:
        return
    if cost.allow_over_budget:
        return
    what = "estimated cost" if estimate.attempts == 1 else "worst-case cost"
    raise BudgetExceeded(
        f"{what} ${worst_case:.2f} exceeds cost.budget_usd "
        f"${cost.budget_usd:.2f}; nothing was started.\n{estimate.describe(cost)}\n"
        "Raise cost.budget_usd, shrink the screen, lower the retries (sharding.attempts), "
        "or accept the estimate with "
        "--config cost='{allow_over_budget: true}'"
    )


def _seconds_per_computed_target(shards: list[dict]) -> float | None:
    computed = sum(shard["computed"] for shard in shards)
    boltz_seconds = sum(shard["boltz_wall_s"] for shard in shards)
    return round(boltz_seconds / computed, 3) if computed else None


def spent(shards: list[dict], cost: Cost, engines: Mapping[str, str] | None = None) -> GpuSpent:
    """GPU time and cost from a screen's shard manifests (what its jobs measured);
    `engines` (protein -> engine), in a screen of two engines: each engine's seconds per
    computed target too."""
    by_engine: dict[str, list[dict]] = {engine: [] for engine in (engines or {}).values()}
    for shard in shards if engines else ():
        by_engine[engines[shard["protein"]]].append(shard)
    job_seconds = sum(shard["job_wall_s"] for shard in shards)
    boltz_seconds = sum(shard["boltz_wall_s"] for shard in shards)
    computed = sum(shard["computed"] for shard in shards)
    # A shard that predicted nothing started no Boltz model (all from the store).
    started = sum(shard["computed"] > 0 or shard["failed"] > 0 for shard in shards)
    # Attempts before the one that wrote a manifest were preempted or failed (manifests
    # written before the field existed count as first attempts). Each started a VM; what it
    # predicted before it stopped is in the store, and was reused by the attempt after it.
    earlier_attempts = sum(shard.get("attempt", 1) - 1 for shard in shards)
    startup_seconds = (started + earlier_attempts) * cost.startup_s_per_shard
    # Set only where asked: the summary of a screen of one engine has no such key.
    optional = {}
    if by_engine:
        optional["seconds_per_computed_target_by_engine"] = {
            engine: _seconds_per_computed_target(part) for engine, part in sorted(by_engine.items())
        }
    return GpuSpent(
        rate_usd_per_hour=cost.gpu_hourly_usd,
        job_seconds=round(job_seconds, 3),
        boltz_seconds=round(boltz_seconds, 3),
        computed_targets=computed,
        retried_shards=sum(shard.get("attempt", 1) > 1 for shard in shards),
        earlier_attempts=earlier_attempts,
        seconds_per_computed_target=_seconds_per_computed_target(shards),
        cost_usd_jobs=round(usd(job_seconds, cost.gpu_hourly_usd), 4),
        startup_seconds_assumed=startup_seconds,
        cost_usd_with_startup=round(usd(job_seconds + startup_seconds, cost.gpu_hourly_usd), 4),
        note="job_seconds and boltz_seconds are measured by each shard job; VM start-up "
        "outside the job is not measured and is assumed at cost.startup_s_per_shard per "
        "shard that ran Boltz and per earlier attempt (preempted or failed) of a retried "
        "shard; the GPU time an earlier attempt ran before it stopped is not measured",
        **optional,
    )
