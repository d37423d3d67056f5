"""A shard killed with SIGKILL after k of its n targets resumes with only the n - k left."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.screens import (
    SIX_LIGANDS,
    committed_records,
    run_snakemake,
    snakemake_env,
    start_screen_in_background,
    wait_for_first_commit,
    write_six_ligand_screen,
)

pytestmark = pytest.mark.boltz

LIGANDS = SIX_LIGANDS


def test_killed_shard_resumes_with_the_rest(tmp_path, boltz_test_cache):
    config = write_six_ligand_screen(tmp_path, boltz_test_cache)
    store = tmp_path / "store"
    run = start_screen_in_background(tmp_path, config, start_new_session=True)
    wait_for_first_commit(run, store)
    os.killpg(run.pid, signal.SIGKILL)  # snakemake, the job script and boltz, like a lost VM
    run.wait()
    done_before = len(committed_records(store))
    assert 0 < done_before < len(LIGANDS)
    # Whatever is in the store is complete: a killed commit never shows as an entry.
    for record in committed_records(store):
        names = {p.name for p in record.parent.iterdir()}
        assert {"structure.cif", "confidence.json", "affinity.json", "input.yaml"} <= names

    subprocess.run([*run.args, "--unlock"], env=snakemake_env(), check=True, capture_output=True)
    run_snakemake(tmp_path, "--configfile", str(config), "--rerun-incomplete")
    manifest = json.loads((tmp_path / "results/s1/shards/P1/00000.json").read_text())
    assert manifest["reused"] == done_before
    assert manifest["computed"] == len(LIGANDS) - done_before
    assert len(committed_records(store)) == len(LIGANDS)
    summary = json.loads((tmp_path / "results/s1/summary.json").read_text())
    assert summary["counts"]["completed"] == len(LIGANDS)
