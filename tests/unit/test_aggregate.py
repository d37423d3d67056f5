import hashlib
import json

import pandas as pd
import pytest

from omtx_hub.aggregate import read_manifests, results_table, summary, write_results
from omtx_hub.config import load_config
from omtx_hub.msa import store_server_msas
from omtx_hub.plan import build_plan
from omtx_hub.store import LocalStore
from omtx_hub.testing.synthetic import write_shard_manifest
from tests.screens import SHORT_PROTEIN, write_screen


def fake_manifests(plan, directory, *, failed=(), scores_of=None):
    """Shard manifests as ShardJob writes them, with chosen scores per compound."""
    paths = []
    for (protein, shard), content in plan.shards.items():
        records = []
        for target in content.targets:
            probability, value = scores_of[target["smiles"]]
            status = "failed" if target["smiles"] in failed else "completed"
            records.append(
                {
                    "key": target["key"],
                    "protein": protein,
                    "ligands": target["ligands"],
                    "smiles": target["smiles"],
                    "status": status,
                    "error": "Boltz wrote nothing" if status == "failed" else None,
                    "source": "computed",
                    "affinity_probability_binary": None if status == "failed" else probability,
                    "affinity_pred_value": None if status == "failed" else value,
                    "confidence_score": None if status == "failed" else 0.5,
                    "weights": {"identity": "x", "released": plan.weights.released, "note": ""},
                    "structures": {
                        a["ligand_id"]: f"{a['ligand_id']}.cif" for a in target["ligands"]
                    }
                    if status == "completed"
                    else {},
                }
            )
        path = write_shard_manifest(
            directory / f"{protein}-{shard}.json",
            plan,
            protein,
            shard,
            records,
            failed=len(failed),
            boltz_wall_s=10.0,
            job_wall_s=12.0,
        )
        paths.append(path)
    return paths


@pytest.fixture
def screen(tmp_path):
    rows = [
        ("weak", "CCO", "A"),
        ("strong", "CCN", "B"),
        ("broken", "CCC", "C"),
        ("strong-too", "NCC", "D"),
        ("mid", "c1ccccc1", "E"),
    ]
    raw = write_screen(tmp_path, rows=rows, extra_columns="series", report={"top_n": 2})
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    scores_of = {"CCO": (0.1, 1.0), "CCN": (0.9, -2.0), "CCC": (0.0, 0.0), "c1ccccc1": (0.9, -1.0)}
    manifests = fake_manifests(plan, tmp_path, failed={"CCC"}, scores_of=scores_of)
    return plan, manifests


def test_ranking_by_binder_probability_then_affinity_failed_last(screen):
    plan, manifests = screen
    records, _ = read_manifests(manifests)
    table = results_table(plan, records)
    assert list(table["ligand_name"]) == ["strong", "strong-too", "mid", "weak", "broken"]
    assert list(table["rank"]) == [1, 2, 3, 4, 5]
    assert table.loc[4, "status"] == "failed" and table.loc[4, "error"]
    # Duplicates of one compound share its prediction but keep their own name and columns.
    assert list(table.loc[:1, "series"]) == ["B", "D"]
    assert table.loc[0, "affinity_pred_value"] == -2.0


def test_written_csv_and_summary(screen, tmp_path):
    plan, manifests = screen
    csv_path, summary_path = tmp_path / "batch_results.csv", tmp_path / "summary.json"
    write_results(plan, manifests, csv_path, summary_path)
    table = pd.read_csv(csv_path)
    assert len(table) == 5
    assert {"rank", "ligand_name", "smiles", "affinity_pred_value", "series"} <= set(table.columns)
    document = json.loads(summary_path.read_text())
    assert document["counts"]["completed"] == 4 and document["counts"]["failed"] == 1
    assert document["counts"]["distinct_compounds"] == 4
    stats = document["statistics"]["affinity_pred_value"]
    assert stats == {"count": 4, "mean": -1.0, "min": -2.0, "max": 1.0, "median": -1.5}
    assert [t["ligand_name"] for t in document["top_by_affinity"]] == ["strong", "strong-too"]
    assert len(document["top_by_binder_probability"]) == 2
    assert document["software"]["boltz"] == "2.2.1"
    assert document["parameters"]["model"]["sampling_steps"] == 200
    assert document["released_weights"] is True and "warning" not in document
    assert document["key_scheme"] == 2


def test_sheet_columns_named_like_results_are_prefixed(tmp_path):
    raw = write_screen(tmp_path, rows=[("a", "CCO", "x")], extra_columns="status")
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    manifests = fake_manifests(plan, tmp_path, scores_of={"CCO": (0.5, 0.0)})
    table = results_table(plan, read_manifests(manifests)[0])
    assert table.loc[0, "status"] == "completed" and table.loc[0, "sheet_status"] == "x"


def test_summary_flags_weights_that_are_not_released(screen):
    plan, manifests = screen
    plan.weights = plan.weights.model_copy(
        update={"released": False, "note": "random test weights"}
    )
    records, shards = read_manifests(manifests)
    document = summary(plan, results_table(plan, records), shards)
    assert document["released_weights"] is False
    assert "NOT PREDICTIONS" in document["warning"]


def test_rows_and_summary_state_each_proteins_msa(tmp_path):
    a3m = tmp_path / "p3.a3m"
    a3m.write_text(f">query\n{SHORT_PROTEIN}\n")
    proteins = [
        {"name": "P1", "sequence": SHORT_PROTEIN, "msa": "empty"},
        {"name": "P2", "sequence": SHORT_PROTEIN, "msa": "server"},
        {"name": "P3", "sequence": SHORT_PROTEIN, "msa": str(a3m)},
    ]
    raw = write_screen(tmp_path, rows=[("a", "CCO")], proteins=proteins)
    config = load_config(raw)
    store = LocalStore(config.store)
    msa = b"key,sequence\n-1," + SHORT_PROTEIN.encode()
    runtime = config.runtime
    store_server_msas(
        store,
        [SHORT_PROTEIN],
        [msa],
        server_url=runtime.msa_server_url,
        pairing_strategy=runtime.msa_pairing_strategy,
    )
    plan = build_plan(config, store)
    manifests = fake_manifests(plan, tmp_path, scores_of={"CCO": (0.5, 0.0)})
    records, shards = read_manifests(manifests)
    table = results_table(plan, records).set_index("protein")
    assert table.loc["P1", "msa"] == "single-sequence" and table.loc["P1", "flags"] == "no-msa"
    assert table.loc["P2", "msa"] == "server" and table.loc["P2", "flags"] == ""
    assert table.loc["P3", "msa"] == "file" and table.loc["P3", "flags"] == ""
    proteins = {p["name"]: p for p in summary(plan, table.reset_index(), shards)["proteins"]}
    assert proteins["P1"]["msa"] == "single-sequence"
    assert proteins["P1"]["warning"].startswith("no MSA: reduced accuracy")
    assert proteins["P2"]["msa_sha256"] == hashlib.sha256(msa).hexdigest()
    assert proteins["P2"]["msa_source"].startswith(runtime.msa_server_url)
    assert proteins["P3"]["msa_source"] == str(a3m)
    assert proteins["P3"]["msa_sha256"] == hashlib.sha256(a3m.read_bytes()).hexdigest()
    assert "warning" not in proteins["P2"] and "warning" not in proteins["P3"]
