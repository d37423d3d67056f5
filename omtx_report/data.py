"""What a dashboard shows, read from the files a screen leaves behind.

A finished screen is read from what its aggregation saved: `summary.json` (through
`omtx_hub.summary`), `batch_results.csv`, `selectivity.csv` and the shard manifests. A
running or interrupted one is read from its plan, the shard manifests written so far and the
result store (each target is committed there the moment Boltz finishes it), so it shows every
target as completed, failed or pending while the run goes on; nothing is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from omtx_hub.layout import ScreenLayout
from omtx_hub.records import (
    ManifestEntry,
    ShardTotals,
    TargetRecord,
    read_manifest,
)
from omtx_hub.summary import ScreenSummary, read_summary

# isort: split
# A running screen's state (load_running_screen) is still computed here, from its plan, its
# manifests and the store: the only imports of omtx_hub beyond its contracts, until that
# computation moves into omtx_hub.progress.
from omtx_hub.aggregate import panel_table, results_table, summary
from omtx_hub.plan import Plan
from omtx_hub.store import CorruptEntry, ResultStore

log = logging.getLogger(__name__)

STATUSES = ("completed", "failed", "pending")


@dataclass
class ScreenData:
    """One screen as the dashboard sees it."""

    summary: ScreenSummary
    table: pd.DataFrame  # batch_results.csv's columns; status may also be 'pending'
    # selectivity.csv's columns (omtx_hub.result_tables), for a screen with a panel.
    selectivity: pd.DataFrame | None
    shards: list[dict]  # protein, shard, targets and how many are completed/failed/pending
    screen_dir: Path
    structures: dict[str, str]  # structure file name -> path relative to screen_dir

    @property
    def screen(self) -> str:
        return self.summary.screen

    def counts(self) -> dict[str, int]:
        found = self.table["status"].value_counts()
        return {status: int(found.get(status, 0)) for status in STATUSES}


def find_structures(screen_dir: Path) -> dict[str, str]:
    """Every exported structure: file name -> structures/<protein>/<shard>/<file name>."""
    found = {}
    for path in ScreenLayout(screen_dir).structure_files():
        found[path.name] = path.relative_to(screen_dir).as_posix()
    return found


def _shard_counts(shard: ShardTotals, pending: int = 0) -> dict:
    return {
        "protein": shard.protein,
        "shard": shard.shard,
        "targets": shard.targets,
        "completed": shard.targets - shard.failed - pending,
        "failed": shard.failed,
        "pending": pending,
    }


def read_table(csv_path: Path) -> pd.DataFrame:
    """batch_results.csv with text columns kept as text ('NA' is a name, not a missing value)."""
    return pd.read_csv(
        csv_path,
        dtype={"ligand_name": str, "ligand_id": str, "error": str},
        keep_default_na=False,
        na_values=[""],
    )


def read_selectivity(csv_path: Path) -> pd.DataFrame:
    """selectivity.csv, every column as text (names stay names; a compound's missing score is
    empty): the page parses the numbers it shows."""
    return pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[""])


def load_finished_screen(screen_dir: str | Path) -> ScreenData:
    """A screen whose aggregate step has written summary.json, batch_results.csv and, with a
    selectivity panel, selectivity.csv."""
    screen_dir = Path(screen_dir)
    layout = ScreenLayout(screen_dir)
    document = read_summary(layout.summary)
    shards = [_shard_counts(read_manifest(path)) for path in layout.manifests()]
    return ScreenData(
        summary=document,
        table=read_table(layout.table),
        selectivity=None if document.selectivity is None else read_selectivity(layout.selectivity),
        shards=shards,
        screen_dir=screen_dir,
        structures=find_structures(screen_dir),
    )


def load_running_screen(plan: Plan, store: ResultStore, results_root: str | Path) -> ScreenData:
    """The current state of a screen that may still be running, from files only.

    A shard with a manifest is finished. In any other shard, a target is completed if the
    store holds it (Boltz finished it; its structure is exported when the shard ends) and
    pending otherwise.
    """
    layout = ScreenLayout.of(results_root, plan.screen)
    screen_dir = layout.screen_dir
    records: list[ManifestEntry] = []
    shards: list[dict] = []
    shard_summaries: list[ShardTotals] = []
    # Only unfinished shards read the store: a finished shard's manifest has its records.
    stored = store.stored(
        target.key
        for (protein, name), shard in plan.shards.items()
        if not layout.manifest(protein, name).is_file()
        for target in shard.targets
    )
    for (protein, name), shard in plan.shards.items():
        manifest_path = layout.manifest(protein, name)
        if manifest_path.is_file():
            manifest = read_manifest(manifest_path)
            records.extend(manifest.records)
            shard_summaries.append(manifest.totals())
            shards.append(_shard_counts(manifest))
            continue
        shard_records = [
            _unfinished_record(target, plan, store, stored) for target in shard.targets
        ]
        records.extend(shard_records)
        completed = sum(r.status == "completed" for r in shard_records)
        totals = ShardTotals(
            screen=plan.screen,
            protein=protein,
            shard=name,
            targets=len(shard.targets),
            reused=0,
            computed=completed,
            failed=0,
            boltz_wall_s=0.0,
            job_wall_s=0.0,
        )
        shard_summaries.append(totals)
        shards.append(_shard_counts(totals, pending=len(shard.targets) - completed))
    table = results_table(plan, records)
    panel = None if plan.config.selectivity is None else panel_table(plan, table)
    return ScreenData(
        summary=summary(plan, table, shard_summaries, panel),
        table=table,
        selectivity=panel,
        shards=shards,
        screen_dir=screen_dir,
        structures=find_structures(screen_dir),
    )


def _unfinished_record(
    target: dict, plan: Plan, store: ResultStore, stored: frozenset[str]
) -> ManifestEntry:
    placement = {**target.placement(), "structures": {}}
    if target.key in stored:
        try:
            record = TargetRecord.model_validate(store.read_record(target.key))
            return ManifestEntry.of(record, **placement, source="computed")
        except CorruptEntry as error:
            # Shown as pending: its shard quarantines it and predicts it again.
            log.warning("%s", error)
    pending = TargetRecord(key=target.key, status="pending", error=None, weights=plan.weights)
    return ManifestEntry.of(pending, **placement, source="pending")


def find_screens(results_root: str | Path) -> list[Path]:
    """Screen directories under results/: those with a summary or shard manifests."""
    root = Path(results_root)
    return sorted(
        path
        for path in root.iterdir()
        if path.is_dir()
        and (ScreenLayout(path).summary.is_file() or ScreenLayout(path).shards.is_dir())
    )
