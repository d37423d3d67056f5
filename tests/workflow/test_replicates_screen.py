"""Replicates and a ligand by CCD code on the real Boltz path: one small screen (a SMILES row
and a CCD fragment, two replicates each, no affinity) through Snakemake."""

from __future__ import annotations

import json
import statistics

import pandas as pd
import pytest
import yaml

from omtx_hub.pose_store import stored_triage
from omtx_hub.store import LocalStore
from tests.screens import FAST_MODEL, run_snakemake, runtime, write_config_file, write_screen

pytestmark = pytest.mark.boltz

# 4-guanidinobenzoate (CCD GBS), one of the test cache's components, beside ethanol.
ROWS = [("ethanol", "CCO", ""), ("guanidinobenzoate", "", "gbs")]


@pytest.fixture(scope="module")
def replicated_screen(tmp_path_factory, boltz_test_cache):
    workdir = tmp_path_factory.mktemp("replicates")
    raw = write_screen(
        workdir,
        rows=ROWS,
        extra_columns="ccd",
        shard_size=2,
        model={**FAST_MODEL, "affinity": False, "replicates": 2, "seed": 3},
        runtime=runtime(boltz_test_cache),
    )
    config = write_config_file(workdir, raw)
    run_snakemake(workdir, "--configfile", str(config))
    return workdir, raw, config


def test_each_replicate_is_a_prediction_of_its_own(replicated_screen):
    workdir, raw, _ = replicated_screen
    store = LocalStore(raw["store"])
    table = pd.read_csv(workdir / "results/s1/batch_results.csv", keep_default_na=False)
    assert list(table["ligand_name"].sort_values()) == ["ethanol", "guanidinobenzoate"]
    for _, row in table.iterrows():
        keys = row["replicate_keys"].split(";")
        assert len(set(keys)) == 2 and keys[0] == row["key"]
        records = [store.read_record(key) for key in keys]
        assert [r["model"]["seed"] for r in records] == [3, 4]
        scores = [r["confidence_score"] for r in records]
        assert scores[0] != scores[1]  # another seed, another sample
        assert row["replicates"] == 2
        assert row["confidence_score"] == pytest.approx(statistics.mean(scores))
        assert row["confidence_score_std"] == pytest.approx(statistics.stdev(scores))
        assert (workdir / "results/s1/structures/P1/00000" / row["structure"]).is_file()
    shards = sorted(p.name for p in (workdir / "results/s1/shards/P1").iterdir())
    assert shards == ["00000-r1.json", "00000.json"]
    # Each replicate's Boltz process is seeded with the replicate's seed.
    for shard, seed in (("00000", 3), ("00000-r1", 4)):
        log = (workdir / f"logs/s1/boltz_predict_shard/P1/{shard}.log").read_text()
        assert f"--seed {seed} " in log
    # Every replicate's pose is checked and kept by its key; the row shows replicate 0's.
    for _, row in table.iterrows():
        checks = [stored_triage(store, key) for key in row["replicate_keys"].split(";")]
        assert all(check is not None for check in checks)
        assert row["posebusters_failed"] == ";".join(checks[0].posebusters_failed)
    summary = json.loads((workdir / "results/s1/summary.json").read_text())
    assert summary["replicates"]["seeds"] == [3, 4]
    assert summary["counts"]["computed"] == 4


def test_a_ccd_row_reaches_boltz_as_its_code(replicated_screen, tmp_path):
    workdir, raw, _ = replicated_screen
    table = pd.read_csv(workdir / "results/s1/batch_results.csv", keep_default_na=False)
    row = table.set_index("ligand_name").loc["guanidinobenzoate"]
    assert row["ccd"] == "GBS" and row["smiles"] == ""
    assert row["modeled_smiles"] == "N=C(N)Nc1ccc(C(=O)O)cc1"  # the cache molecule's
    for key in row["replicate_keys"].split(";"):
        LocalStore(raw["store"]).fetch(key, "input.yaml", tmp_path / "input.yaml")
        document = yaml.safe_load((tmp_path / "input.yaml").read_text())
        ligand = document["sequences"][1]["ligand"]
        assert ligand == {"id": "B", "ccd": "GBS"}
    cif = (workdir / "results/s1/structures/P1/00000" / row["structure"]).read_text()
    assert " GBS " in cif
    # Its pose is checked against the cache molecule Boltz modelled (atoms by CCD name).
    assert row["pose_checks_error"] == ""
    assert row["posebusters_pass"] in (True, False)


def test_rerun_computes_nothing(replicated_screen, tmp_path):
    workdir, raw, config = replicated_screen
    dry_run = run_snakemake(workdir, "--configfile", str(config), "-n")
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr
    # Another screen directory on the same store: every replicate comes from the store.
    again = write_config_file(tmp_path, raw)
    run_snakemake(tmp_path, "--configfile", str(again))
    for shard in ("00000", "00000-r1"):
        manifest = json.loads((tmp_path / f"results/s1/shards/P1/{shard}.json").read_text())
        assert (manifest["computed"], manifest["reused"]) == (0, 2)
