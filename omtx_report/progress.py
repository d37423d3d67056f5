"""The state of a running or interrupted screen, from its files only: omtx_hub.progress's model
(the one `omtx-hub status` prints), as the progress page's dashboard shows it.

Reads the config (merged as Snakemake merges it), the plan, the shard manifests and the result
store; writes nothing the workflow reads, so it is safe to run at any time alongside a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omtx_hub.layout import ScreenLayout
from omtx_hub.progress import (
    Planned,
    ScreenProgress,
    planned_screen,
    running_results,
    screen_progress,
    status_text,
)
from omtx_report.data import ScreenData, find_structures, shard_row

if TYPE_CHECKING:
    from omtx_hub.store import ResultStore


def running_screen(
    config_paths: list[str | Path], results_dir: str | Path
) -> tuple[ScreenData, str]:
    """The dashboard's data of the screen the config files describe, as it stands under
    `results_dir` (results/ of the directory snakemake runs in), and the terminal report."""
    results_dir = Path(results_dir).resolve()
    plan, store, results = planned_screen(config_paths, str(results_dir.parent))
    return screen_state(plan, store, results, results_dir)


def screen_state(
    plan: Planned, store: ResultStore, results: ResultStore, results_dir: Path
) -> tuple[ScreenData, str]:
    """The dashboard's data of the planned screen `plan` as it stands in `results` (local:
    its `results_dir`), and the terminal report (omtx-hub status's, every shard listed)."""
    progress = screen_progress(plan, store, results)
    running = running_results(plan, store, progress)
    screen_dir = ScreenLayout.of(results_dir, plan.screen).screen_dir
    data = ScreenData(
        summary=running.summary,
        table=running.table,
        selectivity=running.selectivity,
        shards=shard_counts(progress),
        screen_dir=screen_dir,
        structures=find_structures(screen_dir),
    )
    return data, status_text(progress, plan, all_shards=True, targets=False)


def shard_counts(progress: ScreenProgress) -> list[dict]:
    """Each shard's counts, as the dashboard's shards panel lists them."""
    return [
        shard_row(shard.protein, shard.shard, shard.targets, shard.completed, shard.failed)
        for shard in progress.shards
    ]
