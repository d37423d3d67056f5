"""Where a screen stands while it runs: one model for `omtx-hub status` and the report's
progress page (`omtx-report progress`), from the plan the planning process wrote, the shard
manifests and the result store. Reads only; safe alongside a run, local or on Google Batch.

A shard with a manifest is finished: its targets are completed or failed as the manifest
records them. In any other shard a target is completed once the result store holds it (each
is committed the moment Boltz finishes it; its structure is exported when the shard ends),
and pending until then. The rate counts the commits of the last `window_s` seconds, the ETA
divides the pending targets by it, and the cost so far is measured for finished shards (their
manifests) and estimated (cost.seconds_per_target or its engine's, cost.startup_s_per_shard)
for shards still running.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from omtx_hub import layout
from omtx_hub.aggregate import ResultRows, panel_table, results_table, summary
from omtx_hub.canary import describe as describe_canary
from omtx_hub.config import ScreenConfig, load_config
from omtx_hub.config_files import merged_config_files
from omtx_hub.cost import spent, usd
from omtx_hub.plan import Plan, PlannedScreen
from omtx_hub.plan_artifact import ShardSpec, shard_spec_path
from omtx_hub.records import (
    CanaryReport,
    ManifestEntry,
    ShardManifest,
    ShardTotals,
    TargetRecord,
    read_canary,
    read_manifest,
)
from omtx_hub.store import LOOKUP_THREADS, CorruptEntry, ResultStore, open_store
from omtx_hub.summary import ScreenSummary

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 900
# A screen's plan: as the planning process holds it, or read back from its files.
Planned = Plan | PlannedScreen
# A target's state: its shard's manifest says (completed, failed), or the store (completed),
# else it is pending.
COMPLETED, FAILED, PENDING = "completed", "failed", "pending"
# What the terminal calls each state.
_DONE = {COMPLETED: "done", FAILED: "failed", PENDING: "pending"}


@dataclass(frozen=True)
class ShardProgress:
    protein: str
    shard: str
    targets: int
    completed: int
    failed: int
    finished: bool  # its job wrote its manifest

    @property
    def pending(self) -> int:
        return self.targets - self.completed - self.failed

    @property
    def state(self) -> str:
        if self.finished or not self.pending:
            return "finished"
        return "running" if self.completed else "waiting"


@dataclass(frozen=True)
class ScreenProgress:
    screen: str
    shards: list[ShardProgress]
    recent_commits: int
    window_s: float
    cost_so_far_usd: float
    # Where the shard manifests are (the directory snakemake runs in, or default storage).
    results: ResultStore
    # (protein, shard) -> name under `results` of the manifest of every finished shard; each
    # is read when needed (`manifest`), never all held at once.
    manifests: dict[tuple[str, str], str]
    # key -> completed / pending of each target of the shards without a manifest (a finished
    # shard's targets are as its manifest records them).
    unfinished_states: dict[str, str]
    # The canary reports of the screen's remote runs (omtx_hub.canary), in name order.
    canaries: tuple[CanaryReport, ...] = ()

    def count(self, state: str) -> int:
        return sum(getattr(shard, state) for shard in self.shards)

    @property
    def targets(self) -> int:
        return sum(shard.targets for shard in self.shards)

    @property
    def rate_per_hour(self) -> float:
        return self.recent_commits / self.window_s * 3600

    @property
    def eta_hours(self) -> float | None:
        pending = self.count(PENDING)
        if not pending:
            return 0.0
        return pending / self.rate_per_hour if self.recent_commits else None

    def manifest(self, protein: str, shard: str) -> ShardManifest | None:
        """The manifest of a finished shard, read (validated) from `results`; None for an
        unfinished one."""
        return _read_manifest(self.results, self.manifests.get((protein, shard)))


def finished_manifests(screen: str, results: ResultStore) -> dict[tuple[str, str], str]:
    """(protein, shard) -> name under `results` of the manifest of every shard job that has
    finished, from one listing of the screen's manifests."""
    prefix = f"{layout.SCREEN_DIR.format(screen=screen)}/{layout.SHARDS_DIR}/"
    found = {}
    for name in results.blob_names(prefix):
        protein, _, file_name = name.removeprefix(prefix).rpartition("/")
        if file_name.endswith(".json"):
            found[(protein, file_name.removesuffix(".json"))] = name
    return found


def canary_reports(screen: str, results: ResultStore) -> tuple[CanaryReport, ...]:
    """The canary reports under `results`, from one listing."""
    prefix = f"{layout.SCREEN_DIR.format(screen=screen)}/{layout.CANARY_DIR}/"
    return tuple(
        read_canary(results.read_blob(name))
        for name in sorted(results.blob_names(prefix))
        if name.endswith(".json")
    )


def screen_progress(
    plan: Planned,
    store: ResultStore,
    results: ResultStore,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    now: float | None = None,
) -> ScreenProgress:
    """The state of the planned screen `plan` from `store` and the shard manifests under
    `results` (the directory snakemake runs in, or a cloud run's default storage). Shard by
    shard: what is kept is each target's key until the store is listed, and the states of the
    unfinished shards' targets."""
    now = time.time() if now is None else now
    # (protein, shard) -> its targets' keys; None for a shard whose spec is not written yet.
    keys_of = {
        name: None if spec is None else [target.key for target in spec.targets]
        for name, spec in planned_shards(plan, results)
    }
    committed = store.commit_times(key for keys in keys_of.values() if keys for key in keys)
    manifests = {
        name: blob
        for name, blob in finished_manifests(plan.screen, results).items()
        if keys_of.get(name) is not None
    }
    cost = plan.config.cost
    shards: list[ShardProgress] = []
    totals = []
    unfinished_states: dict[str, str] = {}
    estimated_seconds = 0.0
    for (protein, name), keys in keys_of.items():
        manifest = _read_manifest(results, manifests.get((protein, name)))
        if manifest is not None:
            recorded = {record.key: record.status for record in manifest.records}
            totals.append(manifest.totals().to_json())
            states = [recorded.get(key) or _committed_or_pending(key, committed) for key in keys]
        else:
            states = [_committed_or_pending(key, committed) for key in keys or []]
            unfinished_states.update(zip(keys or [], states, strict=True))
        completed, failed = states.count(COMPLETED), states.count(FAILED)
        count = len(states) if keys is not None else plan.plan.entry(protein, name).targets
        shards.append(ShardProgress(protein, name, count, completed, failed, manifest is not None))
        if manifest is None and completed:
            per_target = cost.seconds_per_target_of(plan.config.engine_of(protein))
            estimated_seconds += completed * per_target + cost.startup_s_per_shard
    measured = spent(totals, cost)
    return ScreenProgress(
        screen=plan.screen,
        shards=shards,
        recent_commits=sum(committed[key] > now - window_s for key in committed),
        window_s=window_s,
        cost_so_far_usd=measured.cost_usd_with_startup
        + usd(estimated_seconds, cost.gpu_hourly_usd),
        results=results,
        manifests=manifests,
        unfinished_states=unfinished_states,
        canaries=canary_reports(plan.screen, results),
    )


def _read_manifest(results: ResultStore, name: str | None) -> ShardManifest | None:
    return None if name is None else read_manifest(results.read_blob(name))


def _committed_or_pending(key: str, committed: dict[str, float]) -> str:
    return COMPLETED if key in committed else PENDING


def planned_shards(plan: Planned, results: ResultStore):
    """(protein, shard) and spec of every planned shard, in plan order, one at a time; a shard
    whose spec is not written yet (its protein's server MSA is being fetched) has None. The
    specs of a screen read without them (PlannedScreen.from_results(specs=False)) are read
    from `results` here, a few ahead in parallel, and not kept."""
    if isinstance(plan, Plan):
        yield from plan.shards.items()
        return
    entries = plan.plan.shards
    if plan.shards:
        for entry in entries:
            yield (entry.protein, entry.shard), plan.shards.get((entry.protein, entry.shard))
        return
    names = [
        shard_spec_path(plan.screen, entry.protein, entry.shard) if entry.sha256 else None
        for entry in entries
    ]
    for entry, data in zip(entries, _read_in_order(results, names), strict=True):
        spec = None if data is None else ShardSpec.model_validate_json(data)
        yield (entry.protein, entry.shard), spec


def _read_in_order(results: ResultStore, names: list[str | None]):
    """The content of each named object (None for a None name or one not there), in order,
    with at most a few reads in flight and read ahead."""
    window = 4 * LOOKUP_THREADS
    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        ahead: deque = deque()
        for name in names:
            ahead.append(None if name is None else pool.submit(results.read_blob, name))
            if len(ahead) > window:
                read = ahead.popleft()
                yield None if read is None else read.result()
        for read in ahead:
            yield None if read is None else read.result()


def status_text(progress: ScreenProgress, plan: Planned, *, all_shards: bool, targets: bool) -> str:
    """The terminal report: unfinished shards (all with `all_shards`), optionally every
    target, then the totals, rate, ETA and cost."""
    lines = []
    if targets:
        lines.append(f"{'state':<8} {'protein':<16} {'shard':>5}  ligands")
        for (protein, name), spec in planned_shards(plan, progress.results):
            manifest = progress.manifest(protein, name)
            recorded = {r.key: r.status for r in manifest.records} if manifest else {}
            for target in spec.targets if spec else []:
                ligands = ", ".join(ligand.name for ligand in target.ligands)
                state = _DONE[recorded.get(target.key) or progress.unfinished_states[target.key]]
                lines.append(f"{state:<8} {protein:<16} {name:>5}  {ligands}")
    shown = [s for s in progress.shards if all_shards or s.state != "finished"]
    if shown:
        lines.append(
            f"{'protein':<16} {'shard':>5} {'targets':>7} {'done':>6} {'failed':>6} "
            f"{'pending':>7}  state"
        )
        for shard in shown:
            lines.append(
                f"{shard.protein:<16} {shard.shard:>5} {shard.targets:>7} {shard.completed:>6} "
                f"{shard.failed:>6} {shard.pending:>7}  {shard.state}"
            )
    by_state = {
        state: sum(s.state == state for s in progress.shards)
        for state in ("finished", "running", "waiting")
    }
    lines.append(
        f"{progress.screen}: {progress.count(COMPLETED)} done, {progress.count(FAILED)} failed, "
        f"{progress.count(PENDING)} pending of {progress.targets} targets; shards: "
        + ", ".join(f"{n} {state}" for state, n in by_state.items())
    )
    minutes = progress.window_s / 60
    eta = progress.eta_hours
    eta_text = "ETA unknown (nothing committed in that time)" if eta is None else f"ETA {eta:.1f} h"
    lines.append(
        f"rate: {progress.recent_commits} targets in the last {minutes:g} min "
        f"({progress.rate_per_hour:.1f}/h); {eta_text}"
    )
    lines.append(
        f"cost so far: ${progress.cost_so_far_usd:.2f} (measured for finished shards, "
        "estimated from cost.seconds_per_target for running ones)"
    )
    lines.extend(describe_canary(report) for report in progress.canaries)
    return "\n".join(lines)


@dataclass(frozen=True)
class RunningResults:
    """A running screen's results so far, as aggregation would write them: the dashboard of
    its progress page renders these."""

    summary: ScreenSummary
    table: pd.DataFrame  # batch_results.csv's columns; status may also be 'pending'
    selectivity: pd.DataFrame | None


def running_results(plan: Planned, store: ResultStore, progress: ScreenProgress) -> RunningResults:
    """Every target's record so far (a finished shard's from its manifest, another's from the
    store, or pending) aggregated as summary.json and batch_results.csv would be, shard by
    shard into columns (aggregate.ResultRows)."""
    rows = ResultRows(plan.config.residue_numbering)
    totals: list[ShardTotals] = []
    for (protein, name), spec in planned_shards(plan, progress.results):
        manifest = progress.manifest(protein, name)
        if manifest is not None:
            rows.add(manifest.records)
            totals.append(manifest.totals())
            continue
        shard_records = (
            [_unfinished_record(target, spec, store, progress) for target in spec.targets]
            if spec
            else []
        )
        rows.add(shard_records)
        totals.append(
            ShardTotals(
                screen=plan.screen,
                protein=protein,
                shard=name,
                targets=len(shard_records),
                reused=0,
                computed=sum(r.status == COMPLETED for r in shard_records),
                failed=0,
                boltz_wall_s=0.0,
                job_wall_s=0.0,
            )
        )
    table = results_table(plan, rows, store)
    panel = None if plan.config.selectivity is None else panel_table(plan, table)
    return RunningResults(summary(plan, table, totals, panel), table, panel)


def _unfinished_record(target, spec: ShardSpec, store: ResultStore, progress) -> ManifestEntry:
    placement = {**target.placement(), "structures": {}}
    if progress.unfinished_states[target.key] == COMPLETED:
        try:
            record = TargetRecord.model_validate(store.read_record(target.key))
            return ManifestEntry.of(record, **placement, source="computed")
        except CorruptEntry as error:
            # Shown as pending: its shard quarantines it and predicts it again.
            log.warning("%s", error)
    pending = TargetRecord(key=target.key, status=PENDING, error=None, weights=spec.weights)
    return ManifestEntry.of(pending, **placement, source=PENDING)


def planned_screen(
    config_files: list[str | Path], results_root: str
) -> tuple[PlannedScreen, ResultStore, ResultStore]:
    """(planned screen, result store, results) of the screen the config files describe
    (merged as snakemake merges them) as planned under `results_root`."""
    config: ScreenConfig = load_config(merged_config_files(config_files))
    store = open_store(config.store)
    results = open_store(results_root)
    return PlannedScreen.from_results(config, results, store, specs=False), store, results
