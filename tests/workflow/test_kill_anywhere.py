"""Kill anywhere, lose nothing, change nothing: SIGKILL of the whole run (snakemake, its jobs
and Boltz: one process group, as a lost machine) at each point of a screen, then the same
command again, completes the screen without predicting again any target committed before the
kill, and its batch_results.csv and store records equal those of an uninterrupted run value
for value (per-target seeding makes a target's result independent of its shard-mates and of
the process: test_reproducibility.py).

Left out of the comparison, because they describe the run rather than the results: a row's
`source` and `runtime_s` (a resumed run reuses what it had committed), and a record's
`computed_at` and `seconds_since_shard_start`, with `record_sha256`, the store's seal over the
whole record, those fields included (the files' hashes under `files` are compared).

The screen: one protein, three ligands Boltz predicts and one it cannot (a permanent failure),
in one shard, with affinity. Each kill waits for a marker, never for a time. The kills during
aggregation and the dashboard strike a run that has only those left to do: a copy of the
uninterrupted run without them (predicting the screen again to get there would only repeat
what the other points show, at the cost of a screen each).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from omtx_hub.failures import FAILURES_DIR
from omtx_hub.store import LocalStore
from tests.screens import (
    FAST_MODEL,
    committed_records,
    run_snakemake,
    runtime,
    snakemake_command,
    snakemake_env,
    write_config_file,
    write_screen,
)

pytestmark = pytest.mark.boltz

LIGANDS = [
    ("ethanol", "CCO"),
    # Two larger ones: their affinity takes longer than the shard's commit interval, so the
    # kill at the first commit leaves work to resume.
    ("phenol", "c1ccccc1O"),
    ("acetanilide", "CC(=O)Nc1ccccc1"),
    # Valid SMILES that RDKit cannot embed in 3D: Boltz's preprocessing raises on it.
    ("cyclohexyne", "C1#CCCCC1"),
]
RUN_COLUMNS = {"source", "runtime_s"}
RUN_FIELDS = {"computed_at", "seconds_since_shard_start", "record_sha256"}
MARKER_TIMEOUT_S = 600


def write_kill_screen(directory: Path, cache: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    raw = write_screen(
        directory,
        rows=LIGANDS,
        shard_size=len(LIGANDS),
        model=FAST_MODEL,
        runtime=runtime(cache),
    )
    return write_config_file(directory, raw)


def screen_environment(directory: Path) -> dict[str, str]:
    """The run's environment: its temporary files (Boltz's work directory) in `directory`."""
    temporary = directory / "tmp"
    temporary.mkdir(exist_ok=True)
    return {**snakemake_env(), "TMPDIR": str(temporary)}


def results(directory: Path) -> tuple[list[dict], dict[str, dict]]:
    """(batch_results.csv rows, store records and failure records by key), without the
    fields that describe the run."""
    with open(directory / "results/s1/batch_results.csv", newline="") as table:
        rows = [
            {column: value for column, value in row.items() if column not in RUN_COLUMNS}
            for row in csv.DictReader(table)
        ]
    store = directory / "store"
    records = {}
    for path in [*committed_records(store), *sorted((store / FAILURES_DIR).glob("*.json"))]:
        record = json.loads(path.read_text())
        records[record["key"]] = {k: v for k, v in record.items() if k not in RUN_FIELDS}
    return rows, records


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, boltz_test_cache) -> Path:
    """The directory of the screen run once, uninterrupted."""
    directory = tmp_path_factory.mktemp("uninterrupted")
    config = write_kill_screen(directory, boltz_test_cache)
    run_snakemake(directory, "--configfile", str(config))
    return directory


@pytest.fixture(scope="module")
def reference(uninterrupted) -> tuple[list[dict], dict[str, dict]]:
    return results(uninterrupted)


def with_only(outputs: list[str], uninterrupted: Path, directory: Path, cache: Path) -> None:
    """In `directory`, the uninterrupted run (results, store, Snakemake's records of its jobs)
    without `outputs`, which are then all that is left to do."""
    shutil.copytree(uninterrupted, directory, dirs_exist_ok=True, symlinks=True)
    write_kill_screen(directory, cache)  # the paths in the config are the copy's
    # The sheet as old as the results made from it (a newer one would rerun the aggregation).
    shutil.copystat(uninterrupted / "ligands.csv", directory / "ligands.csv")
    for output in outputs:
        path = directory / output
        shutil.rmtree(path) if path.is_dir() else path.unlink()


# The kill points: what marks each (polled until true).
def planning(directory: Path, run: psutil.Process) -> bool:
    """The plan has cached the validated sheet in the store; no job has started."""
    return any((directory / "store/sheets").glob("*")) and not run.children(recursive=True)


def structure_stage(directory: Path, run: psutil.Process) -> bool:
    """Boltz has written its first structure; nothing is committed (that needs affinity)."""
    return any((directory / "tmp").glob("omtx-*/out/boltz_results_*/predictions/*/*.cif"))


def affinity_stage(directory: Path, run: psutil.Process) -> bool:
    """The first target is committed, after its affinity; the others' affinity is running."""
    return bool(committed_records(directory / "store"))


def job_running(script: str) -> Callable[[Path, psutil.Process], bool]:
    def marker(directory: Path, run: psutil.Process) -> bool:
        for child in run.children(recursive=True):
            try:
                if any(script in argument for argument in child.cmdline()):
                    return True
            except psutil.NoSuchProcess:
                continue
        return False

    marker.__doc__ = f"The job running {script} has started and not ended."
    return marker


KILL_POINTS = {
    "planning": planning,
    "structure-stage": structure_stage,
    "affinity-stage-after-a-commit": affinity_stage,
    "aggregation": job_running("aggregate_screen"),
    "dashboard": job_running("render_report"),
}
# What is left to do when the kill strikes, for the points after the predictions.
LEFT_TO_DO = {
    "aggregation": [
        "results/s1/summary.json",
        "results/s1/batch_results.csv",
        "results/s1/report",
    ],
    "dashboard": ["results/s1/report"],
}


def kill_at(directory: Path, config: Path, marker) -> None:
    """Start the screen, wait for `marker`, SIGKILL the whole run."""
    run = subprocess.Popen(
        snakemake_command(directory, "--configfile", str(config)),
        env=screen_environment(directory),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        process = psutil.Process(run.pid)
        deadline = time.monotonic() + MARKER_TIMEOUT_S
        while not marker(directory, process):
            assert run.poll() is None, f"the screen ended before the marker: {marker.__doc__}"
            assert time.monotonic() < deadline, f"no marker in time: {marker.__doc__}"
            time.sleep(0.02)
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_anywhere_the_rerun_completes_the_same_screen(
    point, tmp_path, boltz_test_cache, uninterrupted, reference
):
    if point in LEFT_TO_DO:
        with_only(LEFT_TO_DO[point], uninterrupted, tmp_path, boltz_test_cache)
    config = write_kill_screen(tmp_path, boltz_test_cache)
    store = LocalStore(tmp_path / "store")
    kill_at(tmp_path, config, KILL_POINTS[point])
    before = store.commit_times(p.parent.name for p in committed_records(store.root))
    # Whatever is in the store is complete: a killed commit never shows as an entry.
    for record in committed_records(store.root):
        names = {path.name for path in record.parent.iterdir()}
        assert {"structure.cif", "confidence.json", "affinity.json", "input.yaml"} <= names
    if point == "planning":
        assert not (tmp_path / "logs").exists(), "a job had started: the kill came too late"
    if point == "structure-stage":
        assert not before
    if point == "affinity-stage-after-a-commit":
        assert 0 < len(before) < len(LIGANDS) - 1, "the kill came too late: nothing to resume"

    manifest_path = tmp_path / "results/s1/shards/P1/00000.json"
    finished_shard = manifest_path.read_bytes() if manifest_path.exists() else None

    subprocess.run(
        snakemake_command(tmp_path, "--configfile", str(config), "--unlock"),
        env=snakemake_env(),
        check=True,
        capture_output=True,
    )
    run_snakemake(tmp_path, "--configfile", str(config), "--rerun-incomplete")

    # Nothing committed before the kill was predicted again: its commits are those of before,
    # and a shard that had finished did not run again.
    assert store.commit_times(before) == before
    if finished_shard is not None:
        assert manifest_path.read_bytes() == finished_shard
    else:
        manifest = json.loads(manifest_path.read_text())
        predicted = len(LIGANDS) - 1
        assert (manifest["reused"], manifest["computed"]) == (len(before), predicted - len(before))
    assert_same_results(results(tmp_path), reference)


def assert_same_results(found, reference) -> None:
    (rows, records), (reference_rows, reference_records) = found, reference
    assert [row["ligand_name"] for row in rows] == [row["ligand_name"] for row in reference_rows]
    differences = [
        (row["ligand_name"], column, expected[column], row[column])
        for row, expected in zip(rows, reference_rows, strict=True)
        for column in expected.keys() | row.keys()
        if row.get(column) != expected.get(column)
    ]
    assert not differences, f"batch_results.csv (row, column, uninterrupted, here): {differences}"
    assert records.keys() == reference_records.keys()
    differences = [
        (key[:8], field, reference_records[key].get(field), record.get(field))
        for key, record in records.items()
        for field in record.keys() | reference_records[key].keys()
        if record.get(field) != reference_records[key].get(field)
    ]
    assert not differences, f"records (key, field, uninterrupted, here): {differences}"
