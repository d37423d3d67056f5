"""A screen of two engines end to end through the real workflow, on the CPU: one receptor as
P1, predicted by Boltz-2 (the test checkpoint, with affinity), and as P1_chai1, predicted by
chai-lab 0.6.1 in its own environment on the stand-ins (tests/chai1_standins.py), paired in
`consensus`. One run (`consensus_screen`, module-scoped, the finished screen's directory) carries
every check; the consensus columns' checks are added to it. Marked `chai1` as
tests/workflow/test_chai1_screen.py is: without `.chai1/` it fails naming `make chai1`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from omtx_hub.aggregate import BOLTZ2_ONLY_COLUMNS
from omtx_hub.chai1 import ligand_chain as chai1_ligand_chain
from omtx_hub.config import load_config
from omtx_hub.consensus import pose_consensus
from omtx_hub.layout import ScreenLayout
from omtx_hub.plan import build_plan
from omtx_hub.records import CHAI1_COLUMNS, read_manifest
from omtx_hub.screen_consensus import structure_paths
from omtx_hub.store import LocalStore
from tests.dashboard_pages import page_table
from tests.screens import (
    FAST_MODEL,
    SHORT_PROTEIN,
    assert_parquet_is_the_csv,
    committed_records,
    planned_jobs,
    run_snakemake,
    runtime,
    write_config_file,
    write_screen,
)
from tests.workflow.test_chai1_screen import chai1_python
from tests.workflow.test_chai1_screen import downloads as downloads  # noqa: F401 (fixture)

pytestmark = pytest.mark.chai1

ROWS = [("ethanol", "CCO"), ("phenol", "c1ccccc1O"), ("aniline", "c1ccccc1N")]
SHARD_SIZE = len(ROWS)  # one shard per protein: each engine process costs tens of seconds
BOLTZ = {"name": "P1", "sequence": SHORT_PROTEIN, "msa": "empty"}
CHAI1 = {**BOLTZ, "name": "P1_chai1", "engine": "chai1"}
# Both engines' settings at their cheapest that still run Chai-1's trunk and diffusion twice.
MODEL = FAST_MODEL | {"affinity": True, "recycling_steps": 1, "diffusion_samples": 2}


def consensus_config(directory: Path, downloads: Path, cache: Path, proteins=(BOLTZ, CHAI1)):
    """The screen's config mapping (its sheet written in `directory`); with one protein, a
    screen of that protein's engine alone."""
    pairs = [{"boltz2": "P1", "chai1": "P1_chai1"}] if len(proteins) == 2 else []
    return write_screen(
        directory,
        rows=ROWS,
        shard_size=SHARD_SIZE,
        proteins=list(proteins),
        consensus=pairs,
        model=MODEL,
        runtime=runtime(cache)
        | {"chai1_python": str(chai1_python()), "chai1_downloads": str(downloads)},
    )


@pytest.fixture(scope="module")
def consensus_screen(tmp_path_factory, downloads, boltz_test_cache) -> Path:
    """The directory of a finished screen of P1 (Boltz-2) and P1_chai1 (Chai-1): its config
    is config.yaml, its store store/, its results results/s1."""
    directory = tmp_path_factory.mktemp("consensus")
    config = write_config_file(directory, consensus_config(directory, downloads, boltz_test_cache))
    run_snakemake(directory, "--configfile", str(config))
    return directory


def results(directory: Path) -> ScreenLayout:
    return ScreenLayout.of(directory / "results", "s1")


def manifests(screen: ScreenLayout, protein: str) -> list[Path]:
    return sorted((screen.shards / protein).glob("*.json"))


def test_each_protein_is_predicted_by_its_engine(consensus_screen):
    screen = results(consensus_screen)
    for protein in ("P1", "P1_chai1"):
        totals = [read_manifest(path) for path in manifests(screen, protein)]
        assert len(totals) == 1, protein
        assert sum(m.computed for m in totals) == len(ROWS), protein
        assert not any(m.failed for m in totals), protein
    records = [
        json.loads(path.read_text()) for path in committed_records(consensus_screen / "store")
    ]
    assert len(records) == 2 * len(ROWS)
    engines = sorted(record.get("engine") or "boltz2" for record in records)
    assert engines == ["boltz2"] * len(ROWS) + ["chai1"] * len(ROWS)
    chai_lab = {record.get("chai_lab_version") for record in records if record.get("engine")}
    assert chai_lab == {"0.6.1"}


def test_each_proteins_keys_are_those_of_a_screen_of_its_engine_alone(
    consensus_screen, downloads, boltz_test_cache, tmp_path
):
    """The Boltz-2 protein's keys are a Boltz-2 screen's of it, the Chai-1 protein's a Chai-1
    screen's (whose config takes none of Boltz-2's settings, affinity included)."""
    screen = results(consensus_screen)
    keys = {
        protein: [
            record.key
            for path in manifests(screen, protein)
            for record in read_manifest(path).records
        ]
        for protein in ("P1", "P1_chai1")
    }
    (tmp_path / "boltz").mkdir()
    (tmp_path / "chai1").mkdir()
    boltz_alone = consensus_config(tmp_path / "boltz", downloads, boltz_test_cache, [BOLTZ])
    chai1_alone = consensus_config(tmp_path / "chai1", downloads, boltz_test_cache, [CHAI1])
    chai1_alone["model"] = {
        "engine": "chai1",
        **{k: MODEL[k] for k in ("recycling_steps", "sampling_steps", "diffusion_samples", "seed")},
    }
    chai1_alone["proteins"] = [{k: v for k, v in CHAI1.items() if k != "engine"}]
    for raw, protein in ((boltz_alone, "P1"), (chai1_alone, "P1_chai1")):
        config = load_config(raw)
        plan = build_plan(config, LocalStore(config.store))
        assert list(plan.keys()) == keys[protein], protein


def test_batch_results_hold_both_engines_rows_each_ranked_by_its_own_score(consensus_screen):
    screen = results(consensus_screen)
    table = pd.read_csv(screen.table)
    assert_parquet_is_the_csv(screen.screen_dir)
    assert sorted(table["protein"].value_counts().items()) == [("P1", 3), ("P1_chai1", 3)]
    assert (table["status"] == "completed").all()
    boltz, chai = table[table["protein"] == "P1"], table[table["protein"] == "P1_chai1"]
    # Both engines' columns; each protein's rows fill its engine's and leave the other's empty.
    for column in ("affinity_probability_binary", "confidence_score", "ligand_iptm"):
        assert boltz[column].notna().all(), column
        assert chai[column].isna().all(), column
    for column in ("aggregate_score", "chain_pair_iptm", "has_inter_chain_clashes"):
        assert chai[column].notna().all(), column
        assert boltz[column].isna().all(), column
    assert set(CHAI1_COLUMNS) <= set(table.columns)
    assert {"affinity_probability_binary", "affinity_pred_value"} <= set(table.columns)
    for column in ("ptm", "iptm"):  # both engines'
        assert table[column].notna().all(), column
    # Each protein ranked by its own rule: binder probability, Chai-1's aggregate score.
    assert list(boltz["rank"]) == [1, 2, 3] and list(chai["rank"]) == [1, 2, 3]
    assert boltz["affinity_probability_binary"].is_monotonic_decreasing
    assert chai["aggregate_score"].is_monotonic_decreasing
    assert not table["released_weights"].any()


def test_summary_shows_both_engines(consensus_screen, downloads):
    summary = json.loads(results(consensus_screen).summary.read_text())
    assert summary["parameters"]["model"]["engine"] == "boltz2"
    assert summary["parameters"]["model"]["use_esm_embeddings"] is True
    assert "chai1_downloads" in summary["parameters"]["runtime"]
    assert [p.get("engine") for p in summary["proteins"]] == ["boltz2", "chai1"]
    assert summary["ranking"]["rank_by"] == "binder_probability"
    assert summary["ranking"]["by_protein"] == {
        "P1": "binder_probability",
        "P1_chai1": "aggregate_score",
    }
    assert {entry["protein"] for entry in summary["best_targets"]} == {"P1"}
    weights = summary["engine_weights"]
    assert set(weights) == {"boltz2", "chai1"}
    assert weights["boltz2"] == summary["weights"]
    assert len(weights["chai1"]["components_sha256"]) == 6
    assert summary["released_weights"] is False and "NOT PREDICTIONS" in summary["warning"]
    chai = summary["per_protein"]["P1_chai1"]
    assert chai["top_by_binder_probability"] == [] and chai["top_by_affinity"] == []
    assert len(chai["top_by_confidence"]) == len(ROWS)
    assert summary["per_protein"]["P1"]["top_by_binder_probability"]
    for column in BOLTZ2_ONLY_COLUMNS:
        assert column not in chai["statistics"], column
    assert "aggregate_score" not in summary["per_protein"]["P1"]["statistics"]


def test_the_pairs_rows_compare_the_two_engines_structures(consensus_screen):
    """The aggregation of the real run compared each sheet row's two exported structures:
    P1's rows carry P1_chai1's scores of the same row, a pose RMSD and `agree` (both
    recomputed here from the files with omtx_hub.consensus), and the dashboard embeds Chai-1's
    structure beside Boltz-2's."""
    screen = results(consensus_screen)
    table = pd.read_csv(screen.table)
    boltz = table[table["protein"] == "P1"].set_index("index")
    chai = table[table["protein"] == "P1_chai1"].set_index("index")
    assert boltz["consensus_error"].isna().all(), boltz["consensus_error"].tolist()
    assert (boltz["chai1_aggregate_score"] == chai.loc[boltz.index, "aggregate_score"]).all()
    assert (boltz["chai1_iptm"] == chai.loc[boltz.index, "iptm"]).all()
    assert (boltz["chai1_structure"] == chai.loc[boltz.index, "structure"]).all()
    assert table.loc[table["protein"] == "P1_chai1", "consensus_rmsd"].isna().all()
    config = load_config(yaml.safe_load((consensus_screen / "config.yaml").read_text()))
    structures = structure_paths(screen.structure_folders())
    for index, row in boltz.iterrows():
        found = pose_consensus(
            structures[row["structure"]].read_bytes(),
            structures[row["chai1_structure"]].read_bytes(),
            row["modeled_smiles"],
            boltz_ligand_chain=config.protein("P1").receptor.ligand_chain,
            chai_ligand_chain=chai1_ligand_chain(config.protein("P1_chai1").receptor),
            boltz_confidence=row["confidence_score"],
            chai_confidence=chai.loc[index, "aggregate_score"],
        )
        assert row["consensus_rmsd"] == pytest.approx(found.consensus_rmsd)
        assert bool(row["agree"]) == found.agree
        assert len(row["chai1_superposition"].split()) == 12
    pair = json.loads(screen.summary.read_text())["consensus"][0]
    assert (pair["boltz2"], pair["chai1"], pair["rows"], pair["compared"]) == (
        "P1",
        "P1_chai1",
        len(ROWS),
        len(ROWS),
    )
    assert pair["agree"] == int(boltz["agree"].sum())
    embedded = page_table(screen.report / "index.html")["embedded"]
    assert set(boltz["chai1_structure"]) | set(boltz["structure"]) <= set(embedded)


def test_a_rerun_computes_nothing(consensus_screen):
    config = str(consensus_screen / "config.yaml")
    dry_run = run_snakemake(consensus_screen, "-n", "--configfile", config)
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr, planned_jobs(dry_run.stdout)


def test_a_changed_threshold_reruns_the_aggregation_and_no_prediction(consensus_screen):
    raw = yaml.safe_load((consensus_screen / "config.yaml").read_text())
    raw["consensus"][0]["min_chai1_confidence"] = 0.5
    changed = write_config_file(consensus_screen, raw, name="gated.yaml")
    dry_run = run_snakemake(consensus_screen, "-n", "--configfile", str(changed))
    planned = planned_jobs(dry_run.stdout)
    assert planned.items() >= {"aggregate_screen": 1, "render_dashboard": 1}.items(), planned
    assert "boltz_predict_shard" not in planned, planned
