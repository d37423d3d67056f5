"""Planning a 1,000-ligand screen with `snakemake -n`: shards, not one job per ligand."""

from __future__ import annotations

from benchmarks.ligand_library import write_sheet
from tests.screens import planned_jobs, run_snakemake, write_config_file, write_screen


def test_dry_run_of_a_thousand_ligands(tmp_path):
    raw = write_screen(tmp_path, shard_size=100)
    write_sheet(tmp_path / "ligands.csv", 1000)
    config = write_config_file(tmp_path, raw)
    output = run_snakemake(tmp_path, "-n", "--configfile", str(config)).stdout
    counts = planned_jobs(output)
    assert counts["boltz_predict_shard"] == 10
    assert counts["aggregate_screen"] == 1
    # Per-screen steps (aggregate, dashboard, all) are a handful, never one per ligand.
    assert counts["total"] - counts["boltz_predict_shard"] < 10
    assert "results/s1/shards/P1/00009.json" in output
