"""Two screens at once on one result store (issue 14, item 6), on the real Boltz path: two
different screens that share targets run in the same directory at the same time and both
complete, each with every result, and the store (a directory, or a bucket of the GCS emulator)
holds one sound entry per target, the one both screens report; a second run of a screen
that is running is refused by Snakemake's lock with its usual message, and the running one
goes on."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from omtx_hub.records import SCORE_FIELDS
from omtx_hub.store import inspect_all, open_store
from tests.gcs_emulator import emulated_gcs
from tests.screens import (
    FAST_MODEL,
    runtime,
    snakemake_command,
    snakemake_env,
    start_screen_in_background,
    write_config_file,
    write_screen,
)

pytestmark = pytest.mark.boltz

SHARED = ["CCN", "c1ccccc1O"]
SCREENS = {"sa": ["CCO", *SHARED], "sb": [*SHARED, "OCCN"]}


@contextmanager
def shared_store(kind: str, workdir: Path) -> Iterator[str]:
    """The location of both screens' store: a directory, or a bucket of a GCS emulator that
    the screens' processes reach through STORAGE_EMULATOR_HOST."""
    if kind == "local":
        yield str(workdir / "store")
        return
    with emulated_gcs() as client:
        client.create_bucket("shared-store")
        yield "gs://shared-store/targets-of-both"


def write_screens(workdir: Path, cache: Path, store: str) -> dict[str, Path]:
    """Both screens' config files; their sheets apart, one store, each screen one shard."""
    configs = {}
    for screen, ligands in SCREENS.items():
        (workdir / screen).mkdir()
        raw = write_screen(
            workdir / screen,
            rows=[(f"{screen}{i}", smiles) for i, smiles in enumerate(ligands)],
            shard_size=len(ligands),
            screen={"name": screen},
            model={**FAST_MODEL, "affinity": False},
            runtime=runtime(cache),
            store=store,
        )
        configs[screen] = write_config_file(workdir, raw, f"{screen}.yaml")
    return configs


def wait_for_locks(workdir: Path, runs: int, run: subprocess.Popen) -> None:
    """Until `runs` snakemake runs hold their locks in `workdir` (`run` must still run)."""
    locks = workdir / ".snakemake" / "locks"
    while len(list(locks.glob("*.output.lock"))) < runs:
        assert run.poll() is None, "the screen ended before it took its lock"
        time.sleep(0.2)


@pytest.mark.parametrize("store_kind", ["local", "gcs"])
def test_two_screens_sharing_targets_run_at_once(tmp_path, boltz_test_cache, store_kind):
    with shared_store(store_kind, tmp_path) as location:
        run_both_screens(tmp_path, write_screens(tmp_path, boltz_test_cache, location))
        entries = inspect_all(open_store(location))
    assert len(entries) == len({*SCREENS["sa"], *SCREENS["sb"]})
    assert all(found.sound and not found.legacy for found in entries.values())
    for screen, ligands in SCREENS.items():
        with open(tmp_path / "results" / screen / "batch_results.csv") as table:
            rows = list(csv.DictReader(table))
        assert sorted(row["smiles"] for row in rows) == sorted(ligands)
        assert {row["status"] for row in rows} == {"completed"}
        # What each screen reports of a target is what the store holds, computed by it or not.
        manifest = json.loads((tmp_path / f"results/{screen}/shards/P1/00000.json").read_text())
        for record in manifest["records"]:
            stored = entries[record["key"]].record
            assert {f: record.get(f) for f in SCORE_FIELDS} == {
                f: stored.get(f) for f in SCORE_FIELDS
            }


def run_both_screens(tmp_path: Path, configs: dict[str, Path]) -> None:
    """Screen sa, then (while sa is held still) sa again, refused by the lock, and sb, which
    starts; both run to the end together."""
    with (
        open(tmp_path / "sa.stderr", "w") as first_log,
        open(tmp_path / "sb.stderr", "w") as second_log,
    ):
        first = start_screen_in_background(
            tmp_path, configs["sa"], stderr=first_log, start_new_session=True
        )
        wait_for_locks(tmp_path, 1, first)
        # Held still while the same screen is started again: that run is refused, by the lock.
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            again = subprocess.run(
                snakemake_command(tmp_path, "--configfile", str(configs["sa"])),
                capture_output=True,
                text=True,
                env=snakemake_env(),
            )
            assert again.returncode != 0
            assert "Error: Directory cannot be locked." in again.stderr + again.stdout
            # The other screen is not refused: it starts while the first holds its lock.
            second = start_screen_in_background(tmp_path, configs["sb"], stderr=second_log)
            wait_for_locks(tmp_path, 2, second)
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        for screen, run in (("sa", first), ("sb", second)):
            assert run.wait() == 0, (tmp_path / f"{screen}.stderr").read_text()[-5000:]
