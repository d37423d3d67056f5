"""A Chai-1 screen (`model.engine: chai1`) end to end through the real workflow, on the CPU,
with chai-lab 0.6.1 in its own environment (`make chai1`) on the stand-ins
tests/chai1_standins.py generates: sheet -> plan -> one runner process per shard -> per-target
records in the sealed store -> manifest -> batch_results.csv, summary.json, dashboard. One run,
killed after its first commit and resumed, then run again from a clean results folder, carries
every check (each real Chai-1 process costs ~10 s of imports alone). Marked `chai1`: it needs
`.chai1/` (`make chai1`, which `make test` builds); without it the test fails naming
`make chai1`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import gemmi
import pandas as pd
import pytest

from omtx_hub.fileio import sha256_file
from omtx_hub.layout import ScreenLayout
from omtx_hub.records import read_manifest
from tests.screens import (
    assert_parquet_is_the_csv,
    committed_records,
    run_snakemake,
    snakemake_command,
    snakemake_env,
    start_screen_in_background,
    wait_for_first_commit,
    write_config_file,
    write_screen,
)

pytestmark = pytest.mark.chai1

REPO = Path(__file__).resolve().parents[2]
CHAI1_PYTHON = REPO / ".chai1" / "bin" / "python"
BOUND_S = 900  # hang protection for a screen's chai1 processes on a busy 2-core machine
# RDKit cannot embed this bicyclobutane's stereo (chai-lab's conformer has no coordinates,
# "Bad Conformer Id"), yet the sheet accepts it: chai-lab drops the ligand, the runner fails
# the target alone.
UNEMBEDDABLE = "C1[C@@H]2[C@@H]1C2"
ROWS = [("ethanol", "CCO"), ("strained", UNEMBEDDABLE), ("phenol", "c1ccccc1O")]
# Chai-1's settings at their cheapest that still run the trunk and diffusion twice.
CHAI1_MODEL = {
    "engine": "chai1",
    "recycling_steps": 1,
    "sampling_steps": 2,
    "diffusion_samples": 2,
    "seed": 0,
}


def chai1_python() -> Path:
    if not CHAI1_PYTHON.exists():
        pytest.fail(
            f"The Chai-1 environment is missing ({CHAI1_PYTHON}). Build it with `make chai1` "
            "(about 3.1 GB from PyPI), then rerun `pytest -m chai1`."
        )
    return CHAI1_PYTHON


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("chai1-downloads")
    done = subprocess.run(
        [chai1_python(), REPO / "tests" / "chai1_standins.py", folder],
        capture_output=True,
        text=True,
        timeout=BOUND_S,
    )
    assert done.returncode == 0, done.stderr
    return folder


def chai1_screen(directory: Path, downloads: Path) -> Path:
    raw = write_screen(
        directory,
        rows=ROWS,
        shard_size=len(ROWS),
        model=CHAI1_MODEL,
        runtime={
            "accelerator": "cpu",
            "chai1_python": str(chai1_python()),
            "chai1_downloads": str(downloads),
        },
    )
    return write_config_file(directory, raw)


def test_a_chai1_screen_runs_end_to_end_resumes_and_never_computes_twice(tmp_path, downloads):
    config = chai1_screen(tmp_path, downloads)
    store = tmp_path / "store"
    screen = ScreenLayout.of(tmp_path / "results", "s1")

    # Killed (the whole process group, as a preempted machine) after its first commit.
    stderr = tmp_path / "killed.err"
    with open(stderr, "w") as errors:
        run = start_screen_in_background(tmp_path, config, stderr=errors, start_new_session=True)
        try:
            wait_for_first_commit(run, store, timeout_s=BOUND_S, stderr_file=stderr)
        finally:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    first = committed_records(store)
    assert first, "a target was committed before the kill"
    first_bytes = {path: path.read_bytes() for path in first}

    # Resumed: what the store has is not predicted again.
    subprocess.run(
        snakemake_command(tmp_path, "--configfile", str(config), "--unlock"),
        env=snakemake_env(),
        check=True,
        capture_output=True,
    )
    run_snakemake(tmp_path, "--configfile", str(config), "--rerun-incomplete")
    manifest = read_manifest(screen.manifest("P1", "00000"))
    assert manifest.reused == len(first)
    assert manifest.computed == 2 - len(first)
    assert manifest.failed == 1
    for path, data in first_bytes.items():
        assert path.read_bytes() == data

    table = pd.read_csv(screen.table)
    by_name = table.set_index("ligand_name")
    # The bad target failed alone, permanently, with chai-lab's reason; its shard-mates stand.
    assert by_name.loc["strained", "status"] == "failed"
    assert by_name.loc["strained", "failure"] == "permanent"
    assert "could not build entities ['LIG']" in by_name.loc["strained", "error"]
    completed = table[table["status"] == "completed"]
    assert set(completed["ligand_name"]) == {"ethanol", "phenol"}
    # Chai-1's scores, ranked by aggregate_score (highest first), failed last; no affinity.
    for column in ("aggregate_score", "ptm", "iptm", "chain_pair_iptm", "has_inter_chain_clashes"):
        assert completed[column].notna().all(), column
    assert completed["chain_pair_iptm"].str.fullmatch(r"A:B=\d\.\d\d;B:A=\d\.\d\d").all()
    for boltz_only in ("affinity_probability_binary", "confidence_score", "ligand_iptm"):
        assert boltz_only not in table.columns
    # Pose checks read Chai-1's atom names (the stand-ins' poses are not chemistry: they fail).
    assert completed["pose_checks_error"].isna().all(), completed["pose_checks_error"].tolist()
    assert completed["posebusters_pass"].notna().all()
    assert list(table["rank"]) == [1, 2, 3]
    assert completed["aggregate_score"].is_monotonic_decreasing
    assert table["status"].iloc[-1] == "failed"
    assert not table["released_weights"].any()
    assert_parquet_is_the_csv(screen.summary.parent)

    summary = json.loads(screen.summary.read_text())
    assert summary["ranking"]["rank_by"] == "aggregate_score"
    assert summary["parameters"]["model"]["engine"] == "chai1"
    assert summary["weights"]["components_sha256"] == {
        name: sha256_file(downloads / "models_v2" / name)
        for name in summary["weights"]["components_sha256"]
    }
    assert len(summary["weights"]["components_sha256"]) == 6
    assert screen.report.stat().st_size > 0

    # Every record in the sealed store names its engine; each structure has the ligand.
    records = [json.loads(path.read_text()) for path in committed_records(store)]
    assert len(records) == 2
    assert {record["engine"] for record in records} == {"chai1"}
    assert {record["chai_lab_version"] for record in records} == {"0.6.1"}
    for structure in completed["structure"]:
        cif = gemmi.read_structure(str(screen.structures("P1", "00000") / structure))
        ligand = next(chain for chain in cif[0] if chain.name == "B")
        assert sum(1 for residue in ligand for atom in residue if atom.element.name != "H") > 0

    # Run again from nothing but the store: no runner starts, the failure is not retried, the
    # table is the same.
    shutil.rmtree(tmp_path / "results")
    shutil.rmtree(tmp_path / "logs")
    run_snakemake(tmp_path, "--configfile", str(config))
    again = read_manifest(screen.manifest("P1", "00000"))
    assert (again.reused, again.computed, again.failed) == (2, 0, 1)
    logs = "".join(path.read_text() for path in (tmp_path / "logs").rglob("*.log"))
    assert "chai1 runner output" not in logs
    rerun = pd.read_csv(screen.table)
    assert rerun.drop(columns=["source", "runtime_s"]).equals(
        table.drop(columns=["source", "runtime_s"])
    )
