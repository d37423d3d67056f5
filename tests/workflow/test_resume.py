"""A shard killed with SIGKILL after k of its n targets resumes with only the n - k left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

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

LIGANDS = ["CCO", "CCN", "CCCl", "c1ccccc1O", "CC(=O)Nc1ccccc1", "OCCN"]


def committed(store) -> list:
    return sorted(store.glob("targets/*/*/record.json"))


def test_killed_shard_resumes_with_the_rest(tmp_path, boltz_test_cache):
    raw = write_screen(
        tmp_path,
        rows=[(f"m{i}", s) for i, s in enumerate(LIGANDS)],
        shard_size=len(LIGANDS),
        model=FAST_MODEL,
        runtime=runtime(boltz_test_cache),
    )
    config = write_config_file(tmp_path, raw)
    store = tmp_path / "store"
    command = snakemake_command(tmp_path, "--configfile", str(config))
    env = snakemake_env()
    run = subprocess.Popen(
        command,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while not committed(store):
        assert run.poll() is None, "the screen ended before any target was committed"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)  # snakemake, the job script and boltz, like a lost VM
    run.wait()
    done_before = len(committed(store))
    assert 0 < done_before < len(LIGANDS)
    # Whatever is in the store is complete: a killed commit never shows as an entry.
    for record in committed(store):
        names = {p.name for p in record.parent.iterdir()}
        assert {"structure.cif", "confidence.json", "affinity.json", "input.yaml"} <= names

    subprocess.run([*command, "--unlock"], env=env, check=True, capture_output=True)
    run_snakemake(tmp_path, "--configfile", str(config), "--rerun-incomplete")
    manifest = json.loads((tmp_path / "results/s1/shards/P1/00000.json").read_text())
    assert manifest["reused"] == done_before
    assert manifest["computed"] == len(LIGANDS) - done_before
    assert len(committed(store)) == len(LIGANDS)
    summary = json.loads((tmp_path / "results/s1/summary.json").read_text())
    assert summary["counts"]["completed"] == len(LIGANDS)
