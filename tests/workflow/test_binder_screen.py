"""A binder-sequence screen on the real Boltz-2 code path (issue 22 item 3): `snakemake`
runs the unmodified `boltz predict` (fp32 on CPU, random test weights) on two short peptides,
one of them cyclic with its MSA from the (local, fake) MSA server, one listed under two names
and once more with an MSA file, against one short protein."""

from __future__ import annotations

import hashlib
import json

import gemmi
import pytest

from omtx_hub.binders import pair_iptm
from omtx_hub.config import load_config
from omtx_hub.msa_server import binder_query_id
from omtx_hub.records import AFFINITY_FIELDS, DERIVED_FIELDS
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import SERVER_MSA_OBJECT
from omtx_hub.testing.msa_server import fake_msa_server
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
    "ring,CRGDKC,peptide,true,server,B\n"
    "aligned,GSWAEK,peptide,,{msa},C\n"
)


@pytest.fixture(scope="module")
def binder_screen(tmp_path_factory, boltz_test_cache):
    workdir = tmp_path_factory.mktemp("binders")
    msa = workdir / "binder.a3m"
    msa.write_text(">query\nGSWAEK\n>homologue\nGSWADK\n")
    (workdir / "binders.csv").write_text(SHEET.format(msa=msa))
    with fake_msa_server() as server:
        raw = write_screen(
            workdir,
            shard_size=2,
            model={**FAST_MODEL, "affinity": False},
            runtime={**runtime(boltz_test_cache), "msa_server_url": server.url},
        )
        raw["ligands"] = str(workdir / "binders.csv")
        config_file = str(write_config_file(workdir, raw))
        run_snakemake(workdir, "--configfile", config_file)
        # Planned again: the binder's MSA is in the store, nothing is asked or run again.
        (workdir / "again.txt").write_text(
            run_snakemake(workdir, "-n", "--configfile", config_file).stdout
        )
    (workdir / "submissions.json").write_text(json.dumps(server.submissions))
    (workdir / "query.txt").write_text(binder_query_id("CRGDKC", load_config(raw).runtime))
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
        assert binder["id"] == "B"
        if name == "ring":
            # The server's MSA, from the store into the shard's work directory.
            query = (binder_screen / "query.txt").read_text()
            assert binder["msa"].endswith(f"/binder_msas/{query}.csv")
        else:
            msa = str(binder_screen / "binder.a3m") if name == "aligned" else "empty"
            assert binder["msa"] == msa
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


def test_a_server_binder_msa_is_asked_once_alone_and_kept(binder_screen):
    """One unpaired query of the binder's sequence, before its targets were keyed; the rerun's
    plan finds it in the store and has nothing to do."""
    submissions = json.loads((binder_screen / "submissions.json").read_text())
    assert [(s["endpoint"], s["sequences"]) for s in submissions] == [("msa", ["CRGDKC"])]
    query = (binder_screen / "query.txt").read_text()
    record = json.loads((binder_screen / "results/s1/binder_msa/00000.json").read_text())
    (msa,) = record["msas"].values()
    store = LocalStore(binder_screen / "store")
    stored = store.read_object(SERVER_MSA_OBJECT, query, with_files=True)
    (content,) = stored.files.values()
    assert msa == {"sequence": "CRGDKC", "sha256": hashlib.sha256(content).hexdigest()}
    assert "Nothing to be done" in (binder_screen / "again.txt").read_text()


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
    assert flags["ring"] == "no-msa"  # (the receptor's: single-sequence)
    assert table.set_index("ligand_name")["binder_msa"]["ring"] == "server"
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
