"""A binder-sequence screen on the real Boltz-2 code path (issue 22 item 3): `snakemake`
runs the unmodified `boltz predict` (fp32 on CPU, random test weights) on two short peptides,
one of them cyclic, one listed under two names and once more with an MSA file, against one
short protein."""

from __future__ import annotations

import json

import gemmi
import pytest

from omtx_hub.binders import pair_iptm
from omtx_hub.records import AFFINITY_FIELDS, DERIVED_FIELDS
from omtx_hub.store import LocalStore
from tests.screens import (
    FAST_MODEL,
    SHORT_PROTEIN,
    csv_as_declared,
    run_snakemake,
    runtime,
    write_config_file,
    write_screen,
)
from tests.workflow.test_receptor_screen import stored_input

pytestmark = pytest.mark.boltz

SHEET = (
    "name,sequence,chain_type,cyclic,msa,series\n"
    "linear,GSWAEK,peptide,,,A\n"
    "linear_again,gswaek,protein,,,A\n"
    "ring,CRGDKC,peptide,true,,B\n"
    "aligned,GSWAEK,peptide,,{msa},C\n"
)


@pytest.fixture(scope="module")
def binder_screen(tmp_path_factory, boltz_test_cache):
    workdir = tmp_path_factory.mktemp("binders")
    msa = workdir / "binder.a3m"
    msa.write_text(">query\nGSWAEK\n>homologue\nGSWADK\n")
    (workdir / "binders.csv").write_text(SHEET.format(msa=msa))
    raw = write_screen(
        workdir,
        shard_size=2,
        model={**FAST_MODEL, "affinity": False},
        runtime=runtime(boltz_test_cache),
    )
    raw["ligands"] = str(workdir / "binders.csv")
    run_snakemake(workdir, "--configfile", str(write_config_file(workdir, raw)))
    return workdir


def test_each_binder_is_predicted_as_its_own_chain(binder_screen, tmp_path):
    manifest = json.loads((binder_screen / "results/s1/shards/P1/00000.json").read_text())
    manifest_2 = json.loads((binder_screen / "results/s1/shards/P1/00001.json").read_text())
    records = {
        record["ligands"][0]["name"]: record
        for record in manifest["records"] + manifest_2["records"]
    }
    assert set(records) == {"linear", "ring", "aligned"}
    assert [ligand["name"] for ligand in records["linear"]["ligands"]] == [
        "linear",
        "linear_again",
    ]
    for name, record in records.items():
        assert record["status"] == "completed"
        document = stored_input(binder_screen / "store", record["key"], tmp_path)
        binder = document["sequences"][1]["protein"]
        msa = str(binder_screen / "binder.a3m") if name == "aligned" else "empty"
        assert binder["id"] == "B" and binder["msa"] == msa
        assert binder.get("cyclic", False) is (name == "ring")
        assert "properties" not in document  # no affinity
        # The interface score is Boltz's pair ipTM of chains 0 and 1, both ways.
        LocalStore(binder_screen / "store").fetch(
            record["key"], "confidence.json", tmp_path / "confidence.json"
        )
        confidence = json.loads((tmp_path / "confidence.json").read_text())
        assert record["binder_iptm"] == pytest.approx(pair_iptm(confidence, 1, [0]))
        assert 0 <= record["binder_iptm"] <= 1
        assert len(record["binder_residue_plddt"]) == 6
        assert record["binder_plddt"] == pytest.approx(
            sum(record["binder_residue_plddt"]) / 6, abs=1e-3
        )
        structure = gemmi.read_structure(
            str(
                next(
                    (binder_screen / "results/s1/structures/P1").glob(
                        f"*/{record['structures'][record['ligands'][0]['ligand_id']]}"
                    )
                )
            )
        )
        chains = {chain.name: [r.name for r in chain] for chain in structure[0]}
        assert len(chains["A"]) == len(SHORT_PROTEIN) and len(chains["B"]) == 6


def test_the_results_rank_by_the_interface_and_have_no_affinity(binder_screen):
    table = csv_as_declared(binder_screen / "results/s1/batch_results.csv")
    assert not set(table.columns) & {*AFFINITY_FIELDS, *DERIVED_FIELDS, "smiles", "pic50"}
    assert list(table["ligand_name"].sort_values()) == ["aligned", "linear", "linear_again", "ring"]
    assert table.set_index("ligand_name")["binder_msa"]["aligned"].endswith("binder.a3m")
    assert set(table["sequence"]) == {"GSWAEK", "CRGDKC"}
    assert set(table["chain_type"]) == {"protein"}
    assert table.set_index("ligand_name")["cyclic"].to_dict() == {
        "aligned": "false",
        "linear": "false",
        "linear_again": "false",
        "ring": "true",
    }
    assert set(table["series"]) == {"A", "B", "C"}
    flags = table.set_index("ligand_name")["flags"]
    assert flags["linear"] == "binder-no-msa;no-msa" and flags["aligned"] == "no-msa"
    by_rank = table.sort_values("rank")
    assert list(by_rank["binder_iptm"]) == sorted(by_rank["binder_iptm"], reverse=True)
    strips = table["binder_residue_plddt"].str.split(";")
    assert all(len(strip) == 6 for strip in strips)
    summary = json.loads((binder_screen / "results/s1/summary.json").read_text())
    assert summary["ranking"]["rank_by"] == "binder_iptm"
    assert summary["counts"]["completed"] == 4 and summary["counts"]["distinct_compounds"] == 3
    best, second, third = summary["best_targets"]
    assert best["binder_iptm"] >= second["binder_iptm"] >= third["binder_iptm"]
    assert "affinity_probability_binary" not in best and best["sequence"] in {"GSWAEK", "CRGDKC"}
    per_protein = summary["per_protein"]["P1"]
    assert per_protein["top_by_affinity"] == [] and "binder_iptm" in per_protein["statistics"]
    # A protein binder and a protein receptor: Boltz's protein ipTM is theirs; no ligand.
    assert "ligand_iptm" in per_protein["not_applicable"]
    assert "protein_iptm" not in per_protein["not_applicable"]
    # The dashboard shows each top binder's sequence, each residue coloured by its pLDDT.
    page = (binder_screen / "results/s1/report/index.html").read_text()
    assert page.count('aria-label="sequence of ') == 3
    assert 'title="C1 pLDDT ' in page and "P(binder)</" not in page
