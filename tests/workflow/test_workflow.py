"""The whole workflow on the real Boltz-2 code path: `snakemake` runs the unmodified
`boltz predict` (fp32 on CPU) with a generated random-weights cache."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from omtx_hub.cli import main as cli_main
from omtx_hub.pose_checks import TRIAGE_CHECKS_VERSION
from omtx_hub.pose_store import stored_triage
from omtx_hub.result_tables import INTERACTION_TABLE_COLUMNS
from omtx_hub.store import LocalStore
from tests.screens import (
    FAST_MODEL,
    SHORT_PROTEIN,
    assert_parquet_is_the_csv,
    run_snakemake,
    runtime,
    write_config_file,
    write_screen,
)

pytestmark = pytest.mark.boltz

IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
ROWS = [
    ("aspirin", "CC(=O)Oc1ccccc1C(=O)O", "decoy"),
    ("caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "decoy"),
    # Ibuprofen sodium: Boltz models the free acid (salt stripped, then neutralised).
    ("cpd 3/x", "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]", "hit?"),
    ("aspirin-again", "OC(=O)c1ccccc1OC(C)=O", "duplicate"),
    ("ibuprofen", IBUPROFEN, "free acid"),
]


# Aspirin is a phenol ester (a Brenk alert); caffeine and ibuprofen pass.
TRIAGE = {"exclude_alerts": ["Brenk"], "properties": {"MW": [None, 500]}, "purchase_top_k": 2}


def manifest(workdir: Path, screen: str, shard: str) -> dict:
    return json.loads((workdir / f"results/{screen}/shards/P1/{shard}.json").read_text())


@pytest.fixture(scope="module")
def finished_screen(tmp_path_factory, boltz_test_cache):
    workdir = tmp_path_factory.mktemp("screen")
    raw = write_screen(
        workdir,
        rows=ROWS,
        extra_columns="class",
        shard_size=2,
        model=FAST_MODEL,
        runtime=runtime(boltz_test_cache),
        store=str(workdir / "store"),
        triage=TRIAGE,
    )
    config = write_config_file(workdir, raw)
    run_snakemake(workdir, "--configfile", str(config))
    return workdir, raw, config


def test_results_from_real_boltz(finished_screen):
    workdir, raw, _ = finished_screen
    summary = json.loads((workdir / "results/s1/summary.json").read_text())
    assert summary["counts"]["ligands"] == 5
    assert summary["counts"]["distinct_compounds"] == 3  # aspirin twice, ibuprofen twice
    assert summary["counts"]["completed"] == 5 and summary["counts"]["failed"] == 0
    assert summary["counts"]["computed"] == 3 and summary["counts"]["reused_from_store"] == 0
    # Random weights can never pass for predictions.
    assert summary["released_weights"] is False
    assert "NOT PREDICTIONS" in summary["warning"]
    assert summary["software"]["boltz"] == "2.2.1"
    # Per protein, over distinct compounds: aspirin and ibuprofen count once each; affinity
    # over binders only.
    p1 = summary["per_protein"]["P1"]
    assert (p1["counts"]["sheet_rows"], p1["counts"]["compounds"]) == (5, 3)
    assert p1["statistics"]["affinity_probability_binary"]["count"] == 3
    assert p1["statistics"]["affinity_pred_value"]["count"] == p1["counts"]["binders"]
    assert list(p1["not_applicable"]) == ["protein_iptm"]  # one protein chain

    table = pd.read_csv(workdir / "results/s1/batch_results.csv")
    assert len(table) == 5 and list(table["rank"]) == sorted(table["rank"])
    for names in (["aspirin", "aspirin-again"], ["cpd 3/x", "ibuprofen"]):
        assert table[table["ligand_name"].isin(names)]["rank"].nunique() == 1  # one compound
    assert table["rank"].max() == 3
    # Both heads of the affinity ensemble, as Boltz wrote them; their mean is the ensemble's.
    heads = table[["affinity_probability_binary1", "affinity_probability_binary2"]]
    assert heads.notna().all().all() and table["affinity_pred_value1"].notna().all()
    assert (heads.mean(axis=1) - table["affinity_probability_binary"]).abs().max() < 1e-6
    assert "protein_iptm" not in table.columns
    assert set(table["ligand_name"]) == {name for name, _, _ in ROWS}
    assert set(table["class"]) == {"decoy", "hit?", "duplicate", "free acid"}
    assert table["affinity_probability_binary"].between(0, 1).all()
    assert table["iptm"].notna().all() and table["complex_plddt"].notna().all()
    assert (table["released_weights"] == False).all()  # noqa: E712
    odd = table[table["ligand_name"] == "cpd 3/x"].iloc[0]
    assert "/" not in odd["ligand_id"] and " " not in odd["ligand_id"]
    assert odd["structure"] == f"s1_P1_3_{odd['ligand_id']}.cif"
    assert (workdir / "results/s1/structures/P1/00001" / odd["structure"]).stat().st_size > 0
    # batch_results.parquet: the same table, typed (docs/results.md).
    typed = assert_parquet_is_the_csv(workdir / "results/s1")
    assert typed["released_weights"].eq(False).all() and typed["rank"].max() == 3


def test_every_completed_pose_is_checked_once_and_kept_by_key_and_version(finished_screen):
    """PoseBusters and ProLIF ran in the shard jobs on each completed target's structure
    (random weights: implausible geometry, so every pose fails by name), and their results
    are in the store by key and checker version, the rows and interactions.csv."""
    workdir, _, _ = finished_screen
    typed = assert_parquet_is_the_csv(workdir / "results/s1")
    assert {"posebusters_pass", "posebusters_failed", "interactions"} <= set(typed.columns)
    assert typed["pose_checks_error"].isna().all()
    assert typed["posebusters_pass"].eq(False).all()  # filled for every completed row
    assert typed["posebusters_failed"].str.contains("bond_lengths").all()
    store = LocalStore(workdir / "store")
    records = (
        manifest(workdir, "s1", "00000")["records"] + manifest(workdir, "s1", "00001")["records"]
    )
    for record in records:
        stored = stored_triage(store, record["key"])
        assert stored is not None and stored.to_json() == record["triage"]
        assert record["triage"]["version"] == TRIAGE_CHECKS_VERSION
        assert record["triage"]["cpu_s"] > 0
    interactions = pd.read_csv(workdir / "results/s1/interactions.csv")
    assert list(interactions.columns) == INTERACTION_TABLE_COLUMNS


def test_chemistry_triage_and_the_purchase_list(finished_screen, tmp_path):
    workdir, _, _ = finished_screen
    table = pd.read_csv(workdir / "results/s1/batch_results.csv").set_index("ligand_name")
    assert table.loc["aspirin", "alerts"] == "Brenk:phenol_ester"
    assert table.loc["aspirin", "mw"] == pytest.approx(180.159)
    assert table.loc["aspirin", "triage"] == table.loc["aspirin-again", "triage"] == "alert Brenk"
    # Ibuprofen sodium: the chemistry of the free acid Boltz models.
    assert table.loc["cpd 3/x", "formal_charge"] == 0 and table.loc["cpd 3/x", "hbd"] == 1
    assert set(table.loc[["caffeine", "ibuprofen", "cpd 3/x"], "triage"]) == {"pass"}
    bought = pd.read_csv(workdir / "results/s1/purchase_list.csv")
    assert len(bought) == 2 and set(bought["triage"]) == {"pass"}
    assert set(bought["ligand_name"]) <= {"caffeine", "ibuprofen", "cpd 3/x"}
    out = tmp_path / "buy"
    assert cli_main(["purchase-list", str(workdir / "results/s1"), "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "structures").iterdir()) == sorted(bought["structure"])


def test_a_salt_is_predicted_as_the_molecule_boltz_models(finished_screen):
    workdir, _, _ = finished_screen
    summary = json.loads((workdir / "results/s1/summary.json").read_text())
    assert summary["counts"]["standardised"] == 1
    assert summary["flags"] == {
        "undefined-stereo": {"rows": 2, "ligands": 2},  # ibuprofen
        "no-msa": {"rows": 5, "ligands": 5},  # the screen is single-sequence (msa: empty)
    }
    table = pd.read_csv(workdir / "results/s1/batch_results.csv", keep_default_na=False)
    salt = table[table["ligand_name"] == "cpd 3/x"].iloc[0]
    free_acid = table[table["ligand_name"] == "ibuprofen"].iloc[0]
    assert salt["smiles"] == "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]"
    assert salt["modeled_smiles"] == free_acid["modeled_smiles"] == IBUPROFEN
    assert salt["standardisation"] == "counter-ion removed: sodium; neutralised"
    assert free_acid["standardisation"] == ""
    assert salt["flags"] == "undefined-stereo;no-msa"  # the ligand's flags, then the protein's
    # One prediction for both rows, made from the modelled SMILES.
    assert salt["key"] == free_acid["key"] and salt["status"] == "completed"
    entry = workdir / "store/targets" / salt["key"][:2] / salt["key"]
    boltz_input = yaml.safe_load((entry / "input.yaml").read_text())
    ligand = next(item["ligand"] for item in boltz_input["sequences"] if "ligand" in item)
    assert ligand["smiles"] == IBUPROFEN
    assert json.loads((entry / "record.json").read_text())["smiles"] == IBUPROFEN


def test_store_holds_boltz_files_per_target(finished_screen):
    workdir, _, _ = finished_screen
    store = LocalStore(workdir / "store")
    records = (
        manifest(workdir, "s1", "00000")["records"] + manifest(workdir, "s1", "00001")["records"]
    )
    assert len(records) == 3
    for record in records:
        entry = workdir / "store/targets" / record["key"][:2] / record["key"]
        names = {p.name for p in entry.iterdir()}
        assert names == {
            "input.yaml",
            "structure.cif",
            "confidence.json",
            "affinity.json",
            "record.json",
        }
        assert "affinity" in (entry / "input.yaml").read_text()
        assert store.read_record(record["key"])["status"] == "completed"
        assert set(json.loads((entry / "affinity.json").read_text())) >= {
            "affinity_pred_value",
            "affinity_probability_binary",
        }


def test_rerun_is_a_no_op(finished_screen):
    workdir, _, config = finished_screen
    dry_run = run_snakemake(workdir, "--configfile", str(config), "-n")
    output = dry_run.stdout + dry_run.stderr
    assert "Nothing to be done" in output


def test_added_ligand_computes_only_it_and_other_screens_reuse(finished_screen, tmp_path):
    # On a copy of the finished screen (results, Snakemake's metadata, store), so the shared
    # screen stays as the other tests expect it, whatever the order.
    workdir = tmp_path / "screen"
    shutil.copytree(finished_screen[0], workdir, symlinks=True)
    raw = finished_screen[1]
    runtime_settings, store = raw["runtime"], str(workdir / "store")
    rows = [*ROWS, ("ethanol", "CCO", "new")]
    grown = write_screen(
        workdir,
        rows=rows,
        extra_columns="class",
        shard_size=2,
        model=FAST_MODEL,
        runtime=runtime_settings,
        store=store,
    )
    grown_run = run_snakemake(workdir, "--configfile", str(write_config_file(workdir, grown)))
    output = grown_run.stdout + grown_run.stderr
    assert "boltz_predict_shard" in output
    shard = manifest(workdir, "s1", "00001")
    assert (shard["computed"], shard["reused"]) == (1, 1)
    assert manifest(workdir, "s1", "00000")["computed"] == 2  # untouched shard, not rerun

    # A second screen with the same protein and some of the same ligands computes nothing.
    other_dir = workdir / "other"
    other_dir.mkdir()
    other = write_screen(
        other_dir,
        rows=[("asp", "CC(=O)Oc1ccccc1C(=O)O", "x")],
        extra_columns="class",
        model=FAST_MODEL,
        runtime=runtime_settings,
        store=store,
        screen={"name": "s2"},
        proteins=[{"name": "P1", "sequence": SHORT_PROTEIN, "msa": "empty"}],
    )
    run_snakemake(workdir, "--configfile", str(write_config_file(other_dir, other)))
    reused = manifest(workdir, "s2", "00000")
    assert (reused["computed"], reused["reused"], reused["boltz_wall_s"]) == (0, 1, 0.0)


def test_snakemake_report_includes_results_and_dashboard(finished_screen, tmp_path):
    workdir, _, config = finished_screen
    report = tmp_path / "report.zip"
    run_snakemake(workdir, "--configfile", str(config), "--report", str(report))
    names = "\n".join(zipfile.ZipFile(report).namelist())
    for expected in ("summary.json", "batch_results.csv", "index.html"):
        assert expected in names
