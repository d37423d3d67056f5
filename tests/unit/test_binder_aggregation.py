"""A binder-sequence screen with a selectivity panel, aggregated end to end (issue 22 item 3):
its real plan (a peptide under two names, a cyclic one, one with an MSA file, one with a
server MSA from the store, a DNA binder) and the real aggregation
(omtx_hub.aggregate.write_results) of shard manifests as the shard job writes them, with
made-up interface scores. batch_results.csv, selectivity.csv and summary.json have the
binder columns and compare binder_iptm; no affinity or molecule column is there, empty or
not. (The real `boltz predict` of a binder screen is tests/workflow/test_binder_screen.py's;
this adds no Boltz run.)"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from snakemake.utils import validate

from omtx_hub.aggregate import write_results
from omtx_hub.config import load_config
from omtx_hub.layout import ScreenLayout
from omtx_hub.msa_server import store_server_msas
from omtx_hub.plan import build_plan
from omtx_hub.records import (
    AFFINITY_FIELDS,
    AFFINITY_HEAD_FIELDS,
    DERIVED_FIELDS,
    ManifestEntry,
    TargetRecord,
)
from omtx_hub.result_tables import selectivity_columns
from omtx_hub.schema import SUMMARY_SCHEMA_PATH
from omtx_hub.store import LocalStore
from omtx_hub.testing.synthetic import PEPTIDE, write_shard_manifest
from omtx_report.data import read_table
from tests.screens import csv_as_declared

SHEET = (
    "name,sequence,chain_type,msa,cyclic,series\n"
    "pep,GSWAEK,peptide,,,A\n"
    "pep_again,gswaek,peptide,,,A\n"
    "ring,CRGDKC,peptide,,true,B\n"
    "aligned,GSWADK,peptide,{msa},,C\n"
    "served,PPGPPG,peptide,server,,C\n"
    "dna,ACGTAC,dna,,,D\n"
)
# binder_iptm by binder and protein (T the panel's target; X, Y its anti-targets); None: the
# prediction failed.
IPTM = {
    "GSWAEK": {"T": 0.80, "X": 0.30, "Y": 0.50},
    "CRGDKC": {"T": 0.90, "X": None, "Y": 0.10},
    "GSWADK": {"T": 0.60, "X": 0.65, "Y": 0.20},
    "PPGPPG": {"T": 0.40, "X": 0.10, "Y": 0.15},
    "ACGTAC": {"T": 0.70, "X": 0.20, "Y": 0.25},
}
FAILURE = "CUDA out of memory (synthetic)"
MOLECULE_COLUMNS = {"smiles", "ccd", "canonical_smiles", "modeled_smiles", "standardisation"}
AFFINITY_COLUMNS = {*AFFINITY_FIELDS, *AFFINITY_HEAD_FIELDS, *DERIVED_FIELDS}


def record(plan, target, protein: str) -> TargetRecord:
    """As the shard job records a binder target: its interface scores, Boltz's confidence
    and no affinity."""
    iptm = IPTM[target.binder.sequence][protein]
    if iptm is None:
        return TargetRecord(
            key=target.key,
            status="failed",
            error=FAILURE,
            failure="retryable",
            weights=plan.weights,
        )
    strip = [round(iptm - 0.01 * i, 4) for i in range(len(target.binder.sequence))]
    return TargetRecord(
        key=target.key,
        status="completed",
        weights=plan.weights,
        msa=target.binder.msa_identity,
        confidence_score=iptm,
        iptm=iptm,
        complex_plddt=0.7,
        complex_iplddt=0.6,
        binder_iptm=iptm,
        binder_plddt=round(sum(strip) / len(strip), 4),
        binder_residue_plddt=strip,
    )


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("binder-panel")
    msa = workdir / "aligned.a3m"
    msa.write_text(">q\nGSWADK\n>h\nGSWAEK\n")
    (workdir / "binders.csv").write_text(SHEET.format(msa=msa))
    raw = {
        "screen": {"name": "binder-panel"},
        "proteins": [
            {"name": name, "sequence": PEPTIDE[shift:] + PEPTIDE[:shift], "msa": "empty"}
            for shift, name in enumerate("TXY")
        ],
        "ligands": str(workdir / "binders.csv"),
        "model": {"affinity": False},
        "sharding": {"shard_size": 2},
        "store": str(workdir / "store"),
        "selectivity": {"target": "T", "anti_targets": ["X", "Y"]},
    }
    config = load_config(raw)
    # The server binder's MSA, as an earlier screen's fetch left it in the store.
    store_server_msas(
        LocalStore(config.store),
        ["PPGPPG"],
        [b"key,sequence\n-1,PPGPPG\n-1,PPGPAG\n"],
        server_url=config.runtime.msa_server_url,
        pairing_strategy=config.runtime.msa_pairing_strategy,
    )
    plan = build_plan(config, LocalStore(config.store))
    assert plan.pending_binder_msas == []
    layout = ScreenLayout.of(workdir / "results", plan.screen)
    manifests = []
    for (protein, shard), spec in plan.shards.items():
        entries = [
            ManifestEntry.of(
                record(plan, target, protein),
                **target.placement(),
                source="computed",
                runtime_s=1.0,
            )
            for target in spec.targets
        ]
        manifests.append(
            write_shard_manifest(
                layout.manifest(protein, shard),
                plan,
                protein,
                shard,
                entries,
                boltz_wall_s=1.0,
                job_wall_s=2.0,
                finished_at="2026-01-01T00:00:00+00:00",
            )
        )
    write_results(
        plan,
        manifests,
        csv_path=layout.table,
        parquet_path=layout.parquet_table,
        summary_path=layout.summary,
        selectivity_path=layout.selectivity,
    )
    return layout, msa


def test_batch_results_has_the_binder_columns_and_no_molecule_or_affinity_column(aggregated):
    layout, msa = aggregated
    table = csv_as_declared(layout.table)
    assert not set(table.columns) & (MOLECULE_COLUMNS | AFFINITY_COLUMNS)
    binder_columns = ["sequence", "chain_type", "binder_msa", "cyclic", "series"]
    scores = ["binder_iptm", "binder_plddt", "binder_residue_plddt"]
    assert set(binder_columns + scores) <= set(table.columns)
    # Every sheet row against every protein; a binder under two names is one target.
    assert len(table) == 6 * 3 and table["key"].nunique() == 5 * 3
    by_row = table[table["protein"] == "T"].set_index("ligand_name")
    assert by_row.loc["pep", "key"] == by_row.loc["pep_again", "key"]
    assert by_row["binder_msa"].fillna("").to_dict() == {
        "pep": "empty",
        "pep_again": "empty",
        "ring": "empty",
        "aligned": str(msa),
        "served": "server",
        "dna": "",
    }
    assert by_row["chain_type"].to_dict()["dna"] == "dna"
    assert by_row["cyclic"].to_dict()["ring"] == "true"
    for _, row in table.iterrows():
        iptm = IPTM[row["sequence"]][row["protein"]]
        if iptm is None:
            assert (row["status"], row["error"]) == ("failed", FAILURE)
            assert pd.isna(row["binder_iptm"])
        else:
            assert row["status"] == "completed"
            assert row["binder_iptm"] == pytest.approx(iptm)
            assert len(row["binder_residue_plddt"].split(";")) == len(row["sequence"])
    # Each protein's completed binders ranked by binder_iptm, best first.
    for _, rows in table[table["status"] == "completed"].groupby("protein"):
        ranked = rows.sort_values("rank")
        assert list(ranked["binder_iptm"]) == sorted(ranked["binder_iptm"], reverse=True)


def test_selectivity_csv_compares_each_binders_iptm_on_the_panel(aggregated):
    layout, _ = aggregated
    panel = read_table(layout.selectivity)
    assert list(panel.columns) == selectivity_columns("T", ["X", "Y"], binders=True)
    assert not {c for c in panel.columns if "pic50" in c or "affinity" in c or "smiles" in c}
    # One row per distinct binder, in the target's rank order.
    assert panel["sequence"].tolist() == ["CRGDKC", "GSWAEK", "ACGTAC", "GSWADK", "PPGPPG"]
    for _, binder in panel.iterrows():
        scores = IPTM[binder["sequence"]]
        if scores["X"] is None:
            assert binder["missing"] == f"X: failed ({FAILURE})"
            assert pd.isna(binder["selectivity_binder_iptm"])
            continue
        assert pd.isna(binder["missing"])
        for protein in "TXY":
            assert binder[f"binder_iptm_{protein}"] == pytest.approx(scores[protein])
        for anti in "XY":
            delta = scores["T"] - scores[anti]
            assert binder[f"delta_binder_iptm_{anti}"] == pytest.approx(delta)
        margin = scores["T"] - max(scores["X"], scores["Y"])
        assert binder["selectivity_binder_iptm"] == pytest.approx(margin)
    gswaek = panel[panel["sequence"] == "GSWAEK"].iloc[0]
    assert (gswaek["ligand_name"], gswaek["sheet_rows"]) == ("pep", 2)


def test_summary_ranks_by_binder_iptm_and_counts_the_panel_without_a_binder_rule(aggregated):
    layout, _ = aggregated
    document = json.loads(layout.summary.read_text())
    validate(document, str(SUMMARY_SCHEMA_PATH), set_default=False)
    assert document["ranking"]["rank_by"] == "binder_iptm"
    assert document["counts"]["distinct_compounds"] == 5
    assert (document["counts"]["completed"], document["counts"]["failed"]) == (17, 1)
    # Absent, not 0: Boltz documents no ipTM threshold that would make a binder a binder.
    assert document["selectivity"] == {
        "target": "T",
        "anti_targets": ["X", "Y"],
        "file": "selectivity.csv",
        "compounds": 5,
        "compared": 4,
    }
    best = document["best_targets"][0]
    assert (best["sequence"], best["binder_iptm"]) == ("CRGDKC", 0.9)
    assert not set(best) & (AFFINITY_COLUMNS | MOLECULE_COLUMNS)
    for protein in "TXY":
        per_protein = document["per_protein"][protein]
        assert per_protein["top_by_affinity"] == []
        assert "binder_iptm" in per_protein["statistics"]
