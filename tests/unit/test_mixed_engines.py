"""Screens of two engines (proteins[].engine): each protein's targets are planned with its
own engine's settings and weights, so its keys are those a screen of its engine alone makes;
the plan names both engines' weights; Chai-1's sheet checks apply where a protein runs it."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from omtx_hub.aggregate import ResultRows, results_table, summary
from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.plan_artifact import ScreenPlan
from omtx_hub.ranking import rank_order
from omtx_hub.records import ManifestEntry, TargetRecord
from omtx_hub.sheet import SheetError
from omtx_hub.store import LocalStore
from omtx_hub.testing.synthetic import computed_entry
from tests.unit.test_chai1_engine import PROTEIN, chai1_screen
from tests.unit.test_consensus_config import BOLTZ_PROTEIN, CHAI_PROTEIN

ROWS = [("a", "CCO"), ("b", "c1ccccc1O")]


def mixed_screen(tmp_path, proteins=(BOLTZ_PROTEIN, CHAI_PROTEIN), **overrides) -> dict:
    """P1 by Boltz-2 (with affinity) and P1_chai1 by Chai-1, screening ROWS."""
    raw = chai1_screen(
        tmp_path, model={"engine": "boltz2", "affinity": True}, rows=ROWS, **overrides
    )
    return raw | {"proteins": list(proteins)}


def plan_of(raw: dict):
    config = load_config(raw)
    return build_plan(config, LocalStore(config.store))


def keys_by_protein(raw: dict) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for shard in plan_of(raw).shards.values():
        keys.setdefault(shard.protein, []).extend(target.key for target in shard.targets)
    return keys


def test_each_protein_is_keyed_as_a_screen_of_its_engine_alone(tmp_path):
    mixed = keys_by_protein(mixed_screen(tmp_path / "mixed"))
    boltz_alone = chai1_screen(
        tmp_path / "boltz", model={"engine": "boltz2", "affinity": True}, rows=ROWS
    )
    boltz_alone["proteins"] = [BOLTZ_PROTEIN]
    chai1_alone = chai1_screen(tmp_path / "chai1", rows=ROWS)
    chai1_alone["proteins"] = [{**PROTEIN, "name": "P1_chai1"}]
    assert mixed["P1"] == keys_by_protein(boltz_alone)["P1"]
    assert mixed["P1_chai1"] == keys_by_protein(chai1_alone)["P1_chai1"]
    assert set(mixed["P1"]).isdisjoint(mixed["P1_chai1"])


def test_each_shard_names_its_engines_weights_and_the_index_both(tmp_path):
    plan = plan_of(mixed_screen(tmp_path))
    boltz, chai = plan.shard("P1", "00000"), plan.shard("P1_chai1", "00000")
    assert "engine" not in boltz.prediction and boltz.weights.structure_sha256
    assert boltz.prediction["weights"]["affinity"] == boltz.weights.affinity_sha256
    assert chai.prediction["engine"] == "chai1"
    assert chai.weights.components_sha256 == chai.prediction["weights"]
    assert plan.weights == boltz.weights
    index = ScreenPlan.model_validate_json(plan._index({}))
    assert index.engine_weights == {"boltz2": boltz.weights, "chai1": chai.weights}


def test_a_screen_of_one_engine_has_no_engine_weights_in_its_index(tmp_path):
    plan = plan_of(chai1_screen(tmp_path, rows=ROWS))
    assert "engine_weights" not in plan._index({}).decode()


def test_a_binder_sheet_is_refused_naming_the_chai1_protein(tmp_path):
    raw = mixed_screen(tmp_path)
    raw["model"]["affinity"] = False
    sheet = tmp_path / "binders.csv"
    sheet.write_text("name,sequence,chain_type,msa,cyclic\nb1,GGSGG,peptide,empty,\n")
    raw["ligands"] = str(sheet)
    with pytest.raises(SheetError, match="protein 'P1_chai1' runs Chai-1"):
        plan_of(raw)


def test_a_ccd_row_is_refused_naming_its_line_and_the_chai1_protein(tmp_path):
    raw = mixed_screen(tmp_path)
    sheet = tmp_path / "with_ccd.csv"
    sheet.write_text("name,smiles,ccd\na,CCO,\nheme,,HEM\n")
    raw["ligands"] = str(sheet)
    with pytest.raises(SheetError, match=r"line 3: .*\(protein 'P1_chai1' runs Chai-1\)"):
        plan_of(raw)


def test_a_screen_of_boltz2_proteins_alone_is_not_checked_as_chai1(tmp_path):
    raw = mixed_screen(tmp_path, proteins=[BOLTZ_PROTEIN])
    config = load_config(raw)
    assert config.engines == {"boltz2"}
    assert [s.protein for s in build_plan(config, LocalStore(config.store)).shards.values()]


def test_each_proteins_rows_are_ranked_by_its_own_rule():
    nan = float("nan")
    table = pd.DataFrame(
        {
            "protein": ["P1", "P1", "P1_chai1", "P1_chai1"],
            "key": ["k1", "k2", "k3", "k4"],
            "index": [0, 1, 0, 1],
            "status": ["completed"] * 4,
            # Boltz-2's rows by binder probability; Chai-1's (no affinity) by aggregate_score.
            "affinity_probability_binary": [0.2, 0.9, nan, nan],
            "affinity_pred_value": [1.0, 0.0, nan, nan],
            "confidence_score": [0.9, 0.1, nan, nan],
            "aggregate_score": [nan, nan, 0.3, 0.8],
        }
    )
    positions, ranks = rank_order(
        table,
        rank_by={"P1": "binder_probability", "P1_chai1": "aggregate_score"},
        binder_threshold=0.5,
    )
    assert list(table["key"].iloc[positions]) == ["k2", "k1", "k4", "k3"]
    assert list(ranks) == [1, 2, 1, 2]


def chai1_entry(plan, target, score: float) -> ManifestEntry:
    """A Chai-1 prediction's manifest entry, as Chai1ShardJob records one."""
    record = TargetRecord(
        key=target.key,
        smiles=target.smiles,
        weights=plan.engine_weights["chai1"],
        status="completed",
        engine="chai1",
        chai_lab_version="0.6.1",
        aggregate_score=score,
        ptm=0.5,
        iptm=score,
        per_chain_pair_iptm=[[0.9, score], [score, 0.9]],
        has_inter_chain_clashes=False,
    )
    return ManifestEntry.of(record, **target.placement(), source="computed", runtime_s=1.0)


def test_a_screen_of_two_engines_aggregates_each_proteins_rows_as_its_engines(tmp_path):
    plan = plan_of(mixed_screen(tmp_path))
    rng = random.Random(0)
    rows = ResultRows()
    for (protein, _), shard in plan.shards.items():
        for n, target in enumerate(shard.targets):
            rows.add(
                [
                    computed_entry(plan, protein, target, False, rng)
                    if protein == "P1"
                    else chai1_entry(plan, target, score=0.2 + 0.5 * n)
                ]
            )
    table = results_table(plan, rows)
    boltz, chai = table[table["protein"] == "P1"], table[table["protein"] == "P1_chai1"]
    for column in ("affinity_probability_binary", "confidence_score", "complex_plddt"):
        assert boltz[column].notna().all() and chai[column].isna().all(), column
    for column in ("aggregate_score", "chain_pair_iptm", "has_inter_chain_clashes"):
        assert chai[column].notna().all() and boltz[column].isna().all(), column
    assert boltz["affinity_probability_binary"].is_monotonic_decreasing
    assert list(chai["ligand_name"]) == ["b", "a"]  # by aggregate_score, highest first
    document = summary(plan, table, []).to_json()
    assert document["ranking"]["by_protein"] == {
        "P1": "binder_probability",
        "P1_chai1": "aggregate_score",
    }
    assert {"engine", "use_esm_embeddings"} <= set(document["parameters"]["model"])
    assert [p["engine"] for p in document["proteins"]] == ["boltz2", "chai1"]
    assert set(document["engine_weights"]) == {"boltz2", "chai1"}
    assert set(document["gpu"]["seconds_per_computed_target_by_engine"]) == {"boltz2", "chai1"}
    assert {entry["protein"] for entry in document["best_targets"]} == {"P1"}
    chai_summary = document["per_protein"]["P1_chai1"]
    assert "aggregate_score" in chai_summary["statistics"]
    assert "confidence_score" not in chai_summary["statistics"]
    assert chai_summary["top_by_binder_probability"] == []
    assert [t["ligand_name"] for t in chai_summary["top_by_confidence"]] == ["b", "a"]
    assert "aggregate_score" not in document["per_protein"]["P1"]["statistics"]
