"""One shard on the real Boltz path, outside Snakemake: a store that stops accepting results
stops Boltz instead of letting it compute results that would be lost. (A ligand Boltz cannot
process: tests/workflow/test_failures.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.predict import ShardError, ShardJob
from omtx_hub.store import LocalStore
from tests.screens import FAST_MODEL, runtime, shard_job, write_screen

pytestmark = pytest.mark.boltz


class UnreachableStore(LocalStore):
    """A store whose uploads fail, as when the bucket becomes unreachable mid-shard."""

    def commit(self, key: str, files: dict[str, Path], record: dict) -> None:
        raise OSError("bucket unreachable")


def first_shard_job(tmp_path, rows, cache, store_class=LocalStore) -> tuple[ShardJob, LocalStore]:
    """The job of shard 00000 of a one-protein screen of `rows`, all in one shard."""
    raw = write_screen(
        tmp_path, rows=rows, shard_size=len(rows), model=FAST_MODEL, runtime=runtime(cache)
    )
    config = load_config(raw)
    store = store_class(config.store)
    plan = build_plan(config, store)
    job = shard_job(
        config,
        plan,
        store,
        tmp_path,
        "P1",
        "00000",
        manifest=tmp_path / "manifest.json",
        log_file=tmp_path / "job.log",
    )
    return job, store


def test_store_failure_stops_boltz_at_once(tmp_path, boltz_test_cache, caplog):
    # The first result is complete after all four structures and one affinity; the other three
    # affinities take several seconds each, far longer than the watcher's poll interval, so
    # Boltz is still running when the failed commit kills it (exit code -9, SIGKILL).
    rows = [("ethanol", "CCO"), ("ethylamine", "CCN"), ("propane", "CCC"), ("acid", "CC(=O)O")]
    job, _ = first_shard_job(tmp_path, rows, boltz_test_cache, UnreachableStore)
    with pytest.raises(ShardError) as failure:
        job.run()
    assert str(failure.value).startswith(
        "committing results to the store failed (bucket unreachable); "
        "boltz predict ended with exit code -9"
    )
    assert not (tmp_path / "manifest.json").exists()
    assert "stopping boltz predict: bucket unreachable" in caplog.text
