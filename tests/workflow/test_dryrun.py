"""Planning a 1,000-ligand screen with `snakemake -n`: shards, not one job per ligand."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.ligand_library import write_sheet
from tests.screens import write_config_file, write_screen


def test_dry_run_of_a_thousand_ligands(tmp_path, repo):
    raw = write_screen(tmp_path, shard_size=100)
    write_sheet(tmp_path / "ligands.csv", 1000)
    config = write_config_file(tmp_path, raw)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(repo / "workflow/Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(config), "--cores", "2"],
        capture_output=True, text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in result.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert counts["boltz_predict_shard"] == 10
    assert counts["aggregate_screen"] == 1
    # Per-screen steps (aggregate, dashboard, all) are a handful, never one per ligand.
    assert counts["total"] - counts["boltz_predict_shard"] < 10
    assert "results/s1/shards/P1/00009.json" in result.stdout
