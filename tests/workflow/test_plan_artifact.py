"""The plan is an artifact (issue 18, item 1): the planning process writes it once, only what
changed, and a job executes its own shard's spec, refusing one the plan did not record."""

from __future__ import annotations

import json
import subprocess

from omtx_hub.layout import ScreenLayout
from tests.screens import (
    SMILES,
    run_snakemake,
    snakemake_command,
    snakemake_env,
    write_config_file,
    write_screen,
)

SHARD = "boltz_predict_shard:screen=s1,protein=P1,shard=00000"


def planned_screen(tmp_path):
    """A five-ligand screen in shards of two, planned by a dry run: (config file, layout)."""
    config = write_config_file(tmp_path, write_screen(tmp_path, shard_size=2))
    run_snakemake(tmp_path, "-n", "--configfile", str(config))
    return config, ScreenLayout.of(tmp_path / "results", "s1")


def plan_files(layout: ScreenLayout) -> dict[str, int]:
    """Every file of the plan -> its modification time (ns)."""
    return {
        path.relative_to(layout.screen_dir).as_posix(): path.stat().st_mtime_ns
        for path in (layout.screen_dir / "plan").rglob("*.json")
    }


def test_planning_again_writes_only_what_changed(tmp_path):
    config, layout = planned_screen(tmp_path)
    first = plan_files(layout)
    assert set(first) == {
        "plan/plan.json",
        "plan/shards/P1/00000.json",
        "plan/shards/P1/00001.json",
        "plan/shards/P1/00002.json",
    }
    run_snakemake(tmp_path, "-n", "--configfile", str(config))
    assert plan_files(layout) == first  # an unchanged screen writes nothing
    # A sixth ligand extends the last shard only: its spec and the index are written anew.
    with open(tmp_path / "ligands.csv", "a") as sheet:
        sheet.write("L5,OCCO\n")
    output = run_snakemake(tmp_path, "-n", "--configfile", str(config)).stdout
    again = plan_files(layout)
    changed = {name for name in first if again[name] != first[name]}
    assert changed == {"plan/plan.json", "plan/shards/P1/00002.json"}
    index = json.loads(layout.plan.read_text())
    assert [(s["shard"], s["targets"]) for s in index["shards"]] == [
        ("00000", 2),
        ("00001", 2),
        ("00002", 2),
    ]
    # The shards whose spec did not change are not planned to run again.
    assert "results/s1/shards/P1/00002.json" in output


def test_a_job_parses_without_the_sheet_and_refuses_a_spec_the_plan_did_not_record(tmp_path):
    config, layout = planned_screen(tmp_path)
    # A job's own process (a remote job on its VM) parses the workflow without the sheet:
    # it reads its shard's spec, whatever the size of the screen.
    (tmp_path / "ligands.csv").unlink()
    remote = ["--mode", "remote", "--target-jobs", SHARD, "--configfile", str(config)]
    assert "boltz_predict_shard" in run_snakemake(tmp_path, "-n", *remote).stdout
    # The spec changed after planning: the job refuses it before predicting anything.
    spec_path = layout.shard_spec("P1", "00000")
    spec = json.loads(spec_path.read_text())
    spec["targets"][0]["smiles"] = SMILES[3]
    spec_path.write_text(json.dumps(spec))
    job = subprocess.run(
        snakemake_command(tmp_path, *remote), capture_output=True, text=True, env=snakemake_env()
    )
    assert job.returncode != 0
    log = (tmp_path / "logs/s1/boltz_predict_shard/P1/00000.log").read_text()
    assert "PlanMismatch: the spec of shard P1/00000" in log
    assert "is not the one the plan" in log and "Nothing was predicted" in log
    assert not layout.manifest("P1", "00000").exists()
    assert not (tmp_path / "store" / "targets").exists()
