"""The state of a running or interrupted screen, from its files only.

Reads the config (as Snakemake would), the shard manifests and the result store; writes
nothing the workflow reads, so it is safe to run at any time alongside a run.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.store import open_store
from omtx_report.data import ScreenData, load_running_screen


def merged_config(paths: list[str | Path]) -> dict:
    """Config files merged in order, later keys winning, like repeated --configfile."""

    def merge(base: dict, update: dict) -> dict:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    merged: dict = {}
    for path in paths:
        merge(merged, yaml.safe_load(Path(path).read_text()) or {})
    return merged


def screen_progress(config_paths: list[str | Path], results_root: str | Path) -> ScreenData:
    config = load_config(merged_config(config_paths))
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
