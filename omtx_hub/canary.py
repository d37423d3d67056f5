"""The canary of a remote run: the first shard with targets to predict runs alone, on the
same image, machine type and settings as the rest; only when it succeeded are the other
shards submitted (workflow/rules/predict.smk, rule `canary`).

A setup mistake that no check on the planning machine can see (no GPU visible in the
container, a driver that does not fit, weights missing in the image, a VM service account
without access to the bucket) then costs one VM, not one per shard. What the canary measured
(its machine, its seconds per target and start-up) replaces the assumed numbers of the cost
estimate, which is printed and checked against `cost.budget_usd` again before the fan-out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from omtx_hub.config import Cost
from omtx_hub.cost import BudgetExceeded, estimate_pending
from omtx_hub.records import CanaryReport, ShardManifest

Shard = tuple[str, str]  # (protein, shard)


def canary_shards(
    shards: Iterable[Shard], assembled: Iterable[Shard], engine_of: Callable[[str], str]
) -> dict[str, Shard]:
    """The canaries: for each engine (`engine_of`: a protein's), the first of its proteins'
    `shards` (the plan's order) that is not `assembled` from the store on the planning
    machine; a screen of one engine has one, none when no shard needs a GPU. Each engine runs
    in its own image (containers/boltz, containers/chai1), so each has its own canary: a
    broken Chai-1 image costs one VM, not one per Chai-1 shard, in a screen of both engines."""
    assembled = set(assembled)
    canaries: dict[str, Shard] = {}
    for shard in shards:
        engine = engine_of(shard[0])
        if engine not in canaries and shard not in assembled:
            canaries[engine] = shard
    return canaries


def measured_times(manifest: ShardManifest) -> tuple[float | None, float | None]:
    """(seconds per target, model load) from when each of the shard's targets was committed
    (`seconds_since_shard_start`, from `boltz predict`'s start): the spacing of the results
    is the time per target, the time to the first one less that is the model load and input
    processing. (None, None) with fewer than two predicted targets."""
    times = sorted(
        entry.seconds_since_shard_start
        for entry in manifest.records
        if entry.source == "computed" and entry.seconds_since_shard_start is not None
    )
    if len(times) < 2:
        return None, None
    per_target = (times[-1] - times[0]) / (len(times) - 1)
    return round(per_target, 3), round(max(0.0, times[0] - per_target), 3)


def canary_report(
    manifest: ShardManifest,
    engine: str,
    pending_after: Sequence[int],
    targets: int,
    cost: Cost,
    attempts: int,
    image_digest: str | None = None,
) -> CanaryReport:
    """What the canary of `engine` saw, and the cost of that engine's shards still to run
    (`pending_after`: the number of targets each of them has to predict) with its measured
    numbers where it measured them, the configured ones elsewhere; `image_digest`: the
    image's, from the registry when the run started."""
    per_target, model_load = measured_times(manifest)
    vm_startup = manifest.machine.vm_startup_s if manifest.machine else None
    measured = cost.model_copy(
        update={
            "engine_seconds_per_target": cost.engine_seconds_per_target
            | {engine: per_target or cost.seconds_per_target_of(engine)},
            "startup_s_per_shard": (
                round(vm_startup + model_load, 1)
                if vm_startup is not None and model_load is not None
                else cost.startup_s_per_shard
            ),
        }
    )
    rest = estimate_pending(
        [(engine, count) for count in pending_after], targets, measured, attempts
    )
    return CanaryReport(
        protein=manifest.protein,
        shard=manifest.shard,
        machine=manifest.machine,
        computed_targets=manifest.computed,
        seconds_per_target=per_target,
        model_load_s=model_load,
        startup_s_per_shard=measured.startup_s_per_shard,
        estimate=rest.describe(measured),
        estimated_worst_case_usd=round(rest.worst_case_cost_usd, 2),
        budget_usd=cost.budget_usd,
        **({"image_digest": image_digest} if image_digest else {}),
    )


def describe(report: CanaryReport) -> str:
    """The canary's report as printed before the fan-out and by `omtx-hub status`."""
    machine = report.machine
    digest = (
        (machine and machine.image_digest)
        or (report.image_digest and f"{report.image_digest} (the registry's, for the tag)")
        or "not known"
    )
    seen = (
        [
            f"GPU {machine.gpu}; torch {machine.torch} built for CUDA "
            f"{machine.torch_cuda or 'none (CPU-only build)'}; NVIDIA driver: "
            f"{machine.driver or 'not loaded'}",
            f"image digest {digest}; VM start-up "
            + (
                "not measured"
                if machine.vm_startup_s is None
                else f"{machine.vm_startup_s:g} s (boot, driver, image pull)"
            ),
        ]
        if machine
        else ["the machine was not recorded (every target came from the store)"]
    )
    timing = (
        f"{report.seconds_per_target:g} s per target, {report.model_load_s:g} s model load "
        f"(measured on {report.computed_targets} targets)"
        if report.seconds_per_target is not None
        else f"seconds per target not measured ({report.computed_targets} target(s) predicted)"
        "; the estimate keeps the configured seconds per target (cost.seconds_per_target, or"
        " the engine's in cost.engine_seconds_per_target)"
    )
    return "\n".join(
        [
            f"Canary shard {report.protein}/{report.shard} succeeded:",
            *(f"  {line}" for line in seen),
            f"  {timing}",
            "Cost of the other shards with these numbers:",
            *(f"  {line}" for line in report.estimate.splitlines()),
        ]
    )


def check_fan_out(report: CanaryReport, cost: Cost) -> None:
    """BudgetExceeded when the other shards' worst case, estimated with the canary's
    numbers, is above `cost.budget_usd` (unless `cost.allow_over_budget`)."""
    if cost.budget_usd is None or cost.allow_over_budget:
        return
    if report.estimated_worst_case_usd <= cost.budget_usd:
        return
    raise BudgetExceeded(
        f"with what the canary shard {report.protein}/{report.shard} measured, the other "
        f"shards' worst-case cost ${report.estimated_worst_case_usd:.2f} exceeds "
        f"cost.budget_usd ${cost.budget_usd:.2f}; only the canary ran (its results are in the "
        f"store), no other shard was submitted.\n{describe(report)}\nRaise cost.budget_usd, "
        "shrink the screen, lower sharding.attempts, or accept the estimate with "
        "--config cost='{allow_over_budget: true}'"
    )
