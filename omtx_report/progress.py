"""The state of a running or interrupted screen, from its files only.

Reads the config (merged as Snakemake merges it), the shard manifests and the result store; writes
nothing the workflow reads, so it is safe to run at any time alongside a run.
"""

from __future__ import annotations

from pathlib import Path

# The plan and the store of a running screen (screen_progress): the only imports of omtx_hub
# beyond its contracts, with omtx_report.data's load_running_screen, until that computation
# moves into omtx_hub.progress.
from omtx_hub.config import load_config, merged_config_files
from omtx_hub.plan import build_plan
from omtx_hub.store import open_store
from omtx_report.data import ScreenData, load_running_screen


def screen_progress(config_paths: list[str | Path], results_root: str | Path) -> ScreenData:
    config = load_config(merged_config_files(config_paths))
    store = open_store(config.store)
    return load_running_screen(build_plan(config, store), store, results_root)


def progress_text(data: ScreenData) -> str:
    """A per-shard table for the terminal, then the totals."""
    lines = [
        f"{'protein':<16} {'shard':>5} {'targets':>7} {'done':>6} {'failed':>6} {'pending':>7}"
    ]
    for shard in data.shards:
        lines.append(
            f"{shard['protein']:<16} {shard['shard']:>5} {shard['targets']:>7} "
            f"{shard['completed']:>6} {shard['failed']:>6} {shard['pending']:>7}"
        )
    counts = data.counts()
    total = sum(counts.values())
    finished = sum(not shard["pending"] for shard in data.shards)
    lines.append(
        f"{data.screen}: {counts['completed']} completed, {counts['failed']} failed, "
        f"{counts['pending']} pending of {total} targets; "
        f"{finished} of {len(data.shards)} shards finished"
    )
    return "\n".join(lines)
