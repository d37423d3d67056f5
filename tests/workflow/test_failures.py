"""A ligand Boltz cannot process fails alone, at whatever step it fails, on the real workflow:
its status, kind and Boltz's reason are in batch_results.csv, the dashboard and the record,
the others of its shard complete in the same attempt and the screen aggregates; the next run
predicts again only a target that failed for a reason worth retrying (out of memory), not one
Boltz raised on (permanent), unless told to (`runtime.retry_failed`).

The preprocessing failure is real: cyclohexyne is valid SMILES, planned, but RDKit cannot
embed it in 3D, so Boltz's preprocessing raises on it. The others are the launcher's test
faults (honoured with the test weights only): running out of GPU memory cannot happen on a
CPU (OMTX_TEST_OUT_OF_MEMORY makes the model raise CUDA's out-of-memory error on ethylamine,
which real Boltz handles), and planning refuses the molecules Boltz's writer raises on
(OMTX_TEST_WRITER_ERROR makes the structure writer raise on propanol and the affinity writer
on chloroethane, each after writing the record's files). With affinity on, the affinity stage
also runs over the records whose structure failed, which ended `boltz predict` before the
launcher passed over them (Boltz loads their missing `pre_affinity_<id>.npz`).
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from omtx_hub.boltz_io import boltz_record_id
from omtx_hub.boltz_launcher import OUT_OF_MEMORY_VARIABLE, WRITER_ERROR_VARIABLE
from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import failure_path
from tests.dashboard_pages import page_and_pieces
from tests.screens import (
    FAST_MODEL,
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
    ("cyclohexyne", "C1#CCCCC1"),
    ("ethylamine", "CCN"),
    ("propanol", "CCCO"),
    ("chloroethane", "CCCl"),
]
MANIFEST = "results/s1/shards/P1/00000.json"
SHARD_LOG = "logs/s1/boltz_predict_shard/P1/00000.log"


def rows_by_name(directory: Path) -> dict[str, dict]:
    with open(directory / "results/s1/batch_results.csv", newline="") as table:
        return {row["ligand_name"]: row for row in csv.DictReader(table)}


def test_failures_are_isolated_reported_and_retried_only_when_worth_it(
    tmp_path, boltz_test_cache, monkeypatch
):
    raw = write_screen(
        tmp_path,
        rows=LIGANDS,
        shard_size=len(LIGANDS),
        model={**FAST_MODEL, "affinity": True},
        runtime=runtime(boltz_test_cache),
    )
    config = write_config_file(tmp_path, raw)
    store = LocalStore(raw["store"])
    plan = build_plan(load_config(raw), store)
    keys = {target.smiles: target.key for target in plan.shard("P1", "00000").targets}

    records = {smiles: boltz_record_id(key) for smiles, key in keys.items()}
    monkeypatch.setenv(OUT_OF_MEMORY_VARIABLE, records["CCN"])
    monkeypatch.setenv(
        WRITER_ERROR_VARIABLE, f"structure:{records['CCCO']},affinity:{records['CCCl']}"
    )
    run_snakemake(tmp_path, "--configfile", str(config))
    monkeypatch.delenv(OUT_OF_MEMORY_VARIABLE)
    monkeypatch.delenv(WRITER_ERROR_VARIABLE)

    rows = rows_by_name(tmp_path)
    assert (rows["ethanol"]["status"], rows["ethanol"]["failure"]) == ("completed", "")
    assert rows["ethanol"]["structure"] == "s1_P1_1_ethanol.cif"
    assert rows["ethanol"]["affinity_pred_value"]
    permanent, out_of_memory = rows["cyclohexyne"], rows["ethylamine"]
    assert (permanent["status"], permanent["failure"]) == ("failed", "permanent")
    assert permanent["error"].startswith("Failed to process ")
    assert "conformer" in permanent["error"]
    assert (out_of_memory["status"], out_of_memory["failure"]) == ("failed", "retryable")
    assert "ran out of memory" in out_of_memory["error"]
    shard_log = (tmp_path / SHARD_LOG).read_text()
    assert "| WARNING: ran out of memory, skipping batch" in shard_log
    # The writers raised after writing each record's files: none of them is taken for a result.
    for name, stage in (("propanol", "structure"), ("chloroethane", "affinity")):
        row = rows[name]
        assert (row["status"], row["failure"], row["structure"]) == ("failed", "permanent", "")
        assert row["error"] == (
            f"Boltz failed on {records[dict(LIGANDS)[name]]} in the {stage} stage (writer): "
            f"ValueError: test fault after writing: {WRITER_ERROR_VARIABLE}"
        )
    # One attempt predicted the whole shard; the screen aggregated and its dashboard shows
    # the failures.
    assert json.loads((tmp_path / MANIFEST).read_text())["attempt"] == 1
    summary = json.loads((tmp_path / "results/s1/summary.json").read_text())
    assert (summary["counts"]["completed"], summary["counts"]["failed"]) == (1, 4)
    dashboard = page_and_pieces(tmp_path / "results/s1/report/index.html")
    assert all(name in dashboard for name, _ in LIGANDS)
    assert f"test fault after writing: {WRITER_ERROR_VARIABLE}" in dashboard
    # Failures are recorded beside the store's entries, never as entries.
    failed = ["C1#CCCCC1", "CCN", "CCCO", "CCCl"]
    assert not any(store.has(keys[smiles]) for smiles in failed)
    recorded = json.loads(store.read_blob(failure_path(keys["C1#CCCCC1"])))
    assert (recorded["status"], recorded["failure"]) == ("failed", "permanent")

    # The same command again: only the shard with the retryable failure runs, and predicts
    # only that target; the permanent failure is read from the store.
    rerun = run_snakemake(tmp_path, "--configfile", str(config))
    assert "Shard P1/00000 runs again for 1 target(s) whose prediction failed" in rerun.stderr
    shard_log = (tmp_path / SHARD_LOG).read_text()
    assert (
        "5 targets, 1 in the store, 3 failed permanently before (not predicted again), "
        "1 to predict" in shard_log
    )
    assert "Running structure prediction for 1 input." in shard_log
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    sources = {entry["smiles"]: entry["source"] for entry in manifest["records"]}
    assert sources == {
        "CCO": "reused",
        "C1#CCCCC1": "failed",
        "CCN": "computed",
        "CCCO": "failed",
        "CCCl": "failed",
    }
    rows = rows_by_name(tmp_path)
    assert rows["ethylamine"]["status"] == "completed"
    assert rows["cyclohexyne"]["error"] == permanent["error"]

    # Then nothing is left to do: a permanent failure is not retried pointlessly.
    dry_run = run_snakemake(tmp_path, "-n", "--configfile", str(config))
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr

    # Unless asked: runtime.retry_failed gives it to Boltz again.
    retry = subprocess.run(
        snakemake_command(
            tmp_path, "--configfile", str(config), "--config", "runtime={retry_failed: true}"
        ),
        env=snakemake_env(),
        capture_output=True,
        text=True,
    )
    assert retry.returncode == 0, retry.stderr[-5000:]
    assert "Shard P1/00000 runs again for 3 target(s)" in retry.stderr
    assert "5 targets, 2 in the store, 3 to predict" in (tmp_path / SHARD_LOG).read_text()
    rows = rows_by_name(tmp_path)
    assert rows["cyclohexyne"]["failure"] == "permanent"
    # Without the test fault, the writers' failures are predicted.
    assert (rows["propanol"]["status"], rows["chloroethane"]["status"]) == ("completed",) * 2
