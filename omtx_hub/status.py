"""`omtx-hub status`: where a screen stands while it runs, from the result store.

Done targets are those in the result store (each is committed the moment Boltz finishes
it); failed ones are read from the manifests of finished shards; everything else is
pending. The rate counts the commits of the last `window_s` seconds, the ETA divides the
pending targets by it, and the cost so far is measured for finished shards (their
manifests) and estimated (cost.seconds_per_target, cost.startup_s_per_shard) for shards
still running. Reads only; safe alongside a run, local or on Google Batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from omtx_hub import layout
from omtx_hub.cost import spent, usd
from omtx_hub.plan import Plan
from omtx_hub.records import ShardManifest, read_manifest
from omtx_hub.store import ResultStore, open_store

DEFAULT_WINDOW_S = 900


@dataclass
class ShardStatus:
    protein: str
    shard: str
    targets: int
    done: int
    failed: int

    @property
    def pending(self) -> int:
        return self.targets - self.done - self.failed

    @property
    def state(self) -> str:
        if not self.pending:
            return "finished"
        return "running" if self.done else "waiting"


@dataclass
class ScreenStatus:
    screen: str
    shards: list[ShardStatus]
    target_states: dict[str, str]  # key -> done / failed / pending
    recent_commits: int
    window_s: float
    cost_so_far_usd: float

    def count(self, state: str) -> int:
        return sum(value == state for value in self.target_states.values())

    @property
    def rate_per_hour(self) -> float:
        return self.recent_commits / self.window_s * 3600

    @property
    def eta_hours(self) -> float | None:
        pending = self.count("pending")
        if not pending:
            return 0.0
        return pending / self.rate_per_hour if self.recent_commits else None


def finished_manifests(plan: Plan, outputs: ResultStore) -> dict[tuple[str, str], ShardManifest]:
    """(protein, shard) -> manifest of every shard job that has finished, from one listing."""
    prefix = f"{layout.RESULTS}/{plan.screen}/{layout.SHARDS_DIR}/"
    found = {}
    for name in outputs.blob_names(prefix):
        protein, _, file_name = name.removeprefix(prefix).rpartition("/")
        shard = file_name.removesuffix(".json")
        if (protein, shard) in plan.shards and file_name.endswith(".json"):
            found[(protein, shard)] = read_manifest(outputs.read_blob(name))
    return found


def screen_status(
    plan: Plan,
    store: ResultStore,
    outputs_root: str,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    now: float | None = None,
) -> ScreenStatus:
    """The state of `plan` from `store` and the shard manifests under `outputs_root` (the
    directory snakemake runs in, or the run's default storage prefix)."""
    now = time.time() if now is None else now
    keys = [target.key for target in plan.targets()]
    committed = store.commit_times(keys)
    manifests = finished_manifests(plan, open_store(outputs_root))
    cost = plan.config.cost
    states: dict[str, str] = {}
    shards = []
    estimated_seconds = 0.0
    for (protein, name), shard in plan.shards.items():
        manifest = manifests.get((protein, name))
        records = manifest.records if manifest else []
        failed_keys = {record.key for record in records if record.status == "failed"}
        done = failed = 0
        for target in shard.targets:
            key = target.key
            if key in committed:
                states[key], done = "done", done + 1
            elif key in failed_keys:
                states[key], failed = "failed", failed + 1
            else:
                states[key] = "pending"
        shards.append(ShardStatus(protein, name, len(shard.targets), done, failed))
        if manifest is None and done:
            estimated_seconds += done * cost.seconds_per_target + cost.startup_s_per_shard
    shard_totals = [manifest.to_json() for manifest in manifests.values()]
    measured = spent(shard_totals, cost).cost_usd_with_startup
    recent = sum(committed[key] > now - window_s for key in committed)
    return ScreenStatus(
        screen=plan.screen,
        shards=shards,
        target_states=states,
        recent_commits=recent,
        window_s=window_s,
        cost_so_far_usd=measured + usd(estimated_seconds, cost.gpu_hourly_usd),
    )


def status_text(status: ScreenStatus, plan: Plan, *, all_shards: bool, targets: bool) -> str:
    """The terminal report: unfinished shards (all with `all_shards`), optionally every
    target, then the totals, rate, ETA and cost."""
    lines = []
    if targets:
        lines.append(f"{'state':<8} {'protein':<16} {'shard':>5}  ligands")
        for (protein, name), shard in plan.shards.items():
            for target in shard.targets:
                ligands = ", ".join(ligand.name for ligand in target.ligands)
                state = status.target_states[target.key]
                lines.append(f"{state:<8} {protein:<16} {name:>5}  {ligands}")
    shown = [s for s in status.shards if all_shards or s.state != "finished"]
    if shown:
        lines.append(
            f"{'protein':<16} {'shard':>5} {'targets':>7} {'done':>6} {'failed':>6} "
            f"{'pending':>7}  state"
        )
        for shard in shown:
            lines.append(
                f"{shard.protein:<16} {shard.shard:>5} {shard.targets:>7} {shard.done:>6} "
                f"{shard.failed:>6} {shard.pending:>7}  {shard.state}"
            )
    by_state = {
        state: sum(s.state == state for s in status.shards)
        for state in ("finished", "running", "waiting")
    }
    total = len(status.target_states)
    lines.append(
        f"{status.screen}: {status.count('done')} done, {status.count('failed')} failed, "
        f"{status.count('pending')} pending of {total} targets; shards: "
        + ", ".join(f"{n} {state}" for state, n in by_state.items())
    )
    minutes = status.window_s / 60
    eta = status.eta_hours
    eta_text = "ETA unknown (nothing committed in that time)" if eta is None else f"ETA {eta:.1f} h"
    lines.append(
        f"rate: {status.recent_commits} targets in the last {minutes:g} min "
        f"({status.rate_per_hour:.1f}/h); {eta_text}"
    )
    lines.append(
        f"cost so far: ${status.cost_so_far_usd:.2f} (measured for finished shards, "
        "estimated from cost.seconds_per_target for running ones)"
    )
    return "\n".join(lines)
