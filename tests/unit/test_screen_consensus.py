"""A consensus pair's columns (omtx_hub/screen_consensus.py) from real-format structure files:
the Boltz-format complex of tests/pose_complex.py and the same complex in the CIF chai-lab
0.6.1 wrote (tests/unit/test_consensus.py's `as_chai`), as a screen's shards export them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gemmi
import numpy as np
import pandas as pd
import pytest

from omtx_hub.aggregate import write_results
from omtx_hub.config import POSE_RMSD_THRESHOLD_A, load_config
from omtx_hub.consensus import ConsensusThresholds
from omtx_hub.layout import ScreenLayout, structure_file_name
from omtx_hub.plan import build_plan
from omtx_hub.records import CONSENSUS_COLUMNS
from omtx_hub.screen_consensus import (
    NOT_YET,
    compare_rows,
    consensus_summary,
    structure_paths,
    with_consensus,
)
from omtx_hub.store import LocalStore
from omtx_hub.testing.synthetic import write_shard_manifest
from omtx_report.cli import main as report_main
from tests.dashboard_pages import page_table, piece
from tests.pose_complex import LIGAND_SMILES, complex_cif
from tests.unit.test_consensus import as_chai, rotation
from tests.unit.test_consensus_config import consensus_screen

TURN = rotation(73.0, [1.0, -2.0, 0.5])
SHIFT = np.array([40.0, -12.0, 7.5])


def moved(xyz):
    return xyz @ TURN.T + SHIFT


def export(screen_dir, protein: str, index: int, cif: bytes) -> str:
    """The structure as the protein's shard 0 exports it; its file name."""
    name = structure_file_name("s", protein, index, f"L{index}")
    folder = ScreenLayout(screen_dir).structures(protein, "0")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(cif)
    return name


def row(protein, index, *, structure=None, status="completed", key=None, **scores):
    return {
        "protein": protein,
        "index": index,
        "status": status,
        "structure": structure,
        "key": key or f"{protein}-{index}",
        "modeled_smiles": LIGAND_SMILES,
        "confidence_score": scores.get("confidence", np.nan),
        "iptm": scores.get("iptm", np.nan),
        "aggregate_score": scores.get("aggregate", np.nan),
    }


@pytest.fixture
def screen(tmp_path):
    """A consensus pair P1 (Boltz-2) x P1_chai1 (Chai-1) over five sheet rows: 0 the same pose
    in another frame, 1 Chai-1's ligand 3 Å away, 2 Chai-1's prediction failed, 3 the
    compound of row 0 under another name (the same targets), 4 Boltz-2's structure not
    exported; rows listed as ranked, Chai-1's first."""
    config = load_config(consensus_screen(tmp_path))
    boltz = complex_cif()
    same = export(tmp_path, "P1", 0, boltz)
    away = export(tmp_path, "P1", 1, boltz)
    chai_same = export(tmp_path, "P1_chai1", 0, as_chai(boltz, move=moved))
    chai_away = export(tmp_path, "P1_chai1", 1, as_chai(complex_cif(ligand_shift=3.0)))
    chai_last = export(tmp_path, "P1_chai1", 4, as_chai(boltz))
    rows = [
        row("P1_chai1", 0, structure=chai_same, iptm=0.7, aggregate=0.75),
        row("P1_chai1", 1, structure=chai_away, iptm=0.6, aggregate=0.65),
        row("P1_chai1", 2, status="failed", iptm=np.nan),
        row("P1_chai1", 3, structure=chai_same, key="P1_chai1-0", iptm=0.7, aggregate=0.75),
        row("P1_chai1", 4, structure=chai_last, iptm=0.5, aggregate=0.55),
        row("P1", 0, structure=same, confidence=0.9, iptm=0.8),
        row("P1", 1, structure=away, confidence=0.8, iptm=0.8),
        row("P1", 2, structure=same, confidence=0.7, iptm=0.8, key="P1-2"),
        row("P1", 3, structure=same, key="P1-0", confidence=0.9, iptm=0.8),
        row("P1", 4, structure="s_P1_4_L4.cif", confidence=0.6, iptm=0.8),
    ]
    table = pd.DataFrame(rows)
    structures = structure_paths(ScreenLayout(tmp_path).structure_folders())
    return config, table, with_consensus(config, table, structures)


def test_boltz2_rows_gain_chai1_scores_the_pose_rmsd_and_agree(screen):
    _, table, found = screen
    assert list(found.columns) == [*table.columns, *CONSENSUS_COLUMNS]
    boltz = found[found["protein"] == "P1"].set_index("index")
    assert boltz["chai1_aggregate_score"].fillna(-1).tolist() == [0.75, 0.65, -1, 0.75, 0.55]
    assert boltz["chai1_iptm"].fillna(-1).tolist() == [0.7, 0.6, -1, 0.7, 0.5]
    # Row 0: the same complex moved rigidly is superposed back onto the same pose.
    assert boltz.loc[0, "consensus_rmsd"] < 1e-3
    assert bool(boltz.loc[0, "agree"]) is True
    # Row 1: the ligand 3 Å away, past the 2 Å threshold.
    assert boltz.loc[1, "consensus_rmsd"] == pytest.approx(3.0, abs=1e-3)
    assert bool(boltz.loc[1, "agree"]) is False
    assert boltz.loc[1, "consensus_rmsd"] > POSE_RMSD_THRESHOLD_A
    # Row 3 is row 0's compound: the same targets, the same comparison.
    assert boltz.loc[3, "consensus_rmsd"] == boltz.loc[0, "consensus_rmsd"]
    assert boltz.loc[3, "chai1_structure"] == boltz.loc[0, "chai1_structure"]


@pytest.mark.parametrize(
    ("thresholds", "agree"),
    [
        # Row 1's ligand is 3 Å away: within a looser bound.
        ({"pose_rmsd_a": 3.5}, [True, True, True]),
        # Row 1's Chai-1 aggregate_score is 0.65, row 0's (and 3's) 0.75.
        ({"pose_rmsd_a": 3.5, "min_chai1_confidence": 0.7}, [True, False, True]),
        # Boltz-2's confidence_score: 0.9 on rows 0 and 3.
        ({"min_boltz2_confidence": 0.95}, [False, False, False]),
    ],
)
def test_the_pairs_thresholds_decide_agree_and_are_in_the_summary(
    screen, tmp_path, thresholds, agree
):
    config, table, unset = screen
    pair = config.consensus[0].model_copy(update=thresholds)
    config = config.model_copy(update={"consensus": [pair]})
    structures = structure_paths(ScreenLayout(tmp_path).structure_folders())
    found = with_consensus(config, table, structures)
    boltz = found[found["protein"] == "P1"].set_index("index")
    assert boltz.loc[[0, 1, 3], "agree"].tolist() == agree
    # The RMSD does not depend on the thresholds.
    unset_boltz = unset[unset["protein"] == "P1"].set_index("index")
    pd.testing.assert_series_equal(boltz["consensus_rmsd"], unset_boltz["consensus_rmsd"])
    (summary,) = consensus_summary(config, found)
    assert summary.agree == sum(agree)
    assert (
        summary.pose_rmsd_threshold_a,
        summary.min_boltz2_confidence,
        summary.min_chai1_confidence,
    ) == (pair.pose_rmsd_a, pair.min_boltz2_confidence, pair.min_chai1_confidence)


def test_a_row_not_compared_keeps_its_cells_empty_with_the_reason(screen):
    _, _, found = screen
    boltz = found[found["protein"] == "P1"].set_index("index")
    assert boltz.loc[2, "consensus_error"] == "Chai-1's prediction failed"
    assert boltz.loc[4, "consensus_error"] == "Boltz-2's structure s_P1_4_L4.cif was not exported"
    for index in (2, 4):
        assert pd.isna(boltz.loc[index, "consensus_rmsd"])
        assert pd.isna(boltz.loc[index, "agree"])
        assert pd.isna(boltz.loc[index, "chai1_structure"])
    assert boltz.loc[[0, 1, 3], "consensus_error"].isna().all()


def test_chai1_rows_and_the_row_order_are_left_as_they_were(screen):
    _, table, found = screen
    pd.testing.assert_frame_equal(found[table.columns], table)
    chai = found[found["protein"] == "P1_chai1"]
    assert chai[list(CONSENSUS_COLUMNS)].isna().all().all()


def test_the_superposition_moves_chai1s_ligand_onto_boltz2s(screen, tmp_path):
    """What the dashboard's viewer does with `chai1_superposition`: x -> R x + t on the
    Chai-1 structure's atoms puts its ligand where Boltz-2's is (the same pose)."""
    _, _, found = screen
    boltz_row = found[(found["protein"] == "P1") & (found["index"] == 0)].iloc[0]
    matrix = np.array(boltz_row["chai1_superposition"].split(), dtype=float).reshape(3, 4)
    np.testing.assert_allclose(matrix[:, :3], TURN.T, atol=1e-4)  # the inverse of the move

    def ligand(name: str, chain: str = "B") -> np.ndarray:
        path = ScreenLayout(tmp_path).structure_files()
        structure = gemmi.read_structure(str(next(p for p in path if p.name == name)))
        atoms = [atom for residue in structure[0][chain] for atom in residue]
        return np.array([[a.pos.x, a.pos.y, a.pos.z] for a in atoms])

    chai = ligand(boltz_row["chai1_structure"])
    boltz = ligand(boltz_row["structure"])
    placed = chai @ matrix[:, :3].T + matrix[:, 3]
    # The same heavy atoms, each where one of Boltz-2's is (the files name them differently).
    distances = np.linalg.norm(placed[:, None] - boltz[None], axis=-1)
    assert distances.min(axis=1).max() < 1e-3


def test_summary_counts_each_pair(screen):
    config, _, found = screen
    (pair,) = consensus_summary(config, found)
    assert pair.model_dump() == {
        "boltz2": "P1",
        "chai1": "P1_chai1",
        "rows": 5,
        "compared": 3,
        "agree": 2,
        "not_compared": 2,
        "pose_rmsd_threshold_a": 2.0,
        "min_boltz2_confidence": 0.0,
        "min_chai1_confidence": 0.0,
    }


def test_a_screen_without_consensus_pairs_is_left_as_it_is(screen, tmp_path):
    config, table, _ = screen
    alone = config.model_copy(update={"consensus": []})
    assert with_consensus(alone, table, {}) is table


BENZENE = "c1ccccc1"
# Per modelled SMILES and protein: its scores. Benzene is Boltz-2's most confident (its rank 1);
# its structures are the pyrrole complex's, so its ligand is not the modelled molecule.
SCORES = {
    "P1": {LIGAND_SMILES: {"confidence_score": 0.9}, BENZENE: {"confidence_score": 0.95}},
    "P1_chai1": {
        LIGAND_SMILES: {"aggregate_score": 0.75, "iptm": 0.7},
        BENZENE: {"aggregate_score": 0.4, "iptm": 0.3},
    },
}


def aggregated_consensus_screen(root: Path, **thresholds) -> ScreenLayout:
    """A planned consensus screen aggregated by write_results from shard manifests and
    exported structures: the pyrrole, the pyrrole again under another name (one target per
    protein), benzene (SCORES); every structure the pyrrole complex, Chai-1's moved rigidly.
    `thresholds`: the pair's (config)."""
    raw = consensus_screen(root, consensus=[{"boltz2": "P1", "chai1": "P1_chai1", **thresholds}])
    sheet = root / "ligands.csv"
    sheet.write_text(
        f"name,smiles\npyrrole,{LIGAND_SMILES}\nazole,{LIGAND_SMILES}\nbenzene,{BENZENE}\n"
    )
    config = load_config(raw | {"model": {"engine": "boltz2", "seed": 0, "affinity": False}})
    plan = build_plan(config, LocalStore(root / "store"), results_root=root / "results")
    layout = ScreenLayout.of(root / "results", plan.screen)
    boltz = complex_cif()
    cifs = {"P1": boltz, "P1_chai1": as_chai(boltz, move=moved)}
    manifests = []
    for (protein, shard), content in plan.shards.items():
        records = []
        for target in content.targets:
            names = {}
            for ligand in target.ligands:
                names[ligand.ligand_id] = structure_file_name(
                    plan.screen, protein, ligand.index, ligand.ligand_id
                )
                folder = layout.structures(protein, shard)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / names[ligand.ligand_id]).write_bytes(cifs[protein])
            records.append(
                {
                    "key": target.key,
                    "protein": protein,
                    "ligands": target.ligands,
                    "smiles": target.smiles,
                    "status": "completed",
                    "source": "computed",
                    "weights": {"identity": "x", "released": True, "note": ""},
                    "structures": names,
                    "iptm": 0.8,
                    **SCORES[protein][target.smiles],
                }
            )
        manifests.append(
            write_shard_manifest(
                layout.manifest(protein, shard),
                plan,
                protein,
                shard,
                records,
                boltz_wall_s=1.0,
                job_wall_s=1.0,
            )
        )
    write_results(
        plan,
        manifests,
        layout.table,
        layout.summary,
        parquet_path=layout.parquet_table,
        interactions_path=layout.interactions,
        structures=structure_paths(layout.structure_folders()),
    )
    return layout


def test_write_results_gives_the_pair_its_columns_and_summary_counts(tmp_path):
    """batch_results.csv and .parquet carry the pair's columns, summary.json its counts."""
    layout = aggregated_consensus_screen(tmp_path)
    table = pd.read_csv(layout.table)
    boltz_rows = table[table["protein"] == "P1"]
    assert boltz_rows["ligand_name"].tolist() == ["benzene", "pyrrole", "azole"]  # Boltz-2's rank
    assert boltz_rows["chai1_aggregate_score"].tolist() == [0.4, 0.75, 0.75]
    assert boltz_rows["chai1_iptm"].tolist() == [0.3, 0.7, 0.7]
    pyrroles = boltz_rows.iloc[1:]
    assert (pyrroles["consensus_rmsd"] < 1e-3).all()
    assert pyrroles["agree"].tolist() == [True, True]
    benzene = boltz_rows.iloc[0]
    assert pd.isna(benzene["consensus_rmsd"]) and pd.isna(benzene["agree"])
    assert "not the modelled molecule" in benzene["consensus_error"]
    assert table.loc[table["protein"] == "P1_chai1", "consensus_rmsd"].isna().all()
    # The columns sit after the engines' scores, in CONSENSUS_COLUMNS' order.
    columns = table.columns.tolist()
    at = columns.index("chai1_aggregate_score")
    assert columns[at : at + len(CONSENSUS_COLUMNS)] == list(CONSENSUS_COLUMNS)
    typed = pd.read_parquet(layout.parquet_table)
    assert str(typed["agree"].dtype) == "boolean"
    assert str(typed["consensus_rmsd"].dtype) == "float64"
    summary = json.loads(layout.summary.read_text())
    assert summary["consensus"] == [
        {
            "boltz2": "P1",
            "chai1": "P1_chai1",
            "rows": 3,
            "compared": 2,
            "agree": 2,
            "not_compared": 1,
            "pose_rmsd_threshold_a": 2.0,
            "min_boltz2_confidence": 0.0,
            "min_chai1_confidence": 0.0,
        }
    ]


def test_the_dashboard_lists_agreeing_rows_first_and_links_both_structures(tmp_path):
    """The page's rows: those whose engines agree first (in Boltz-2's ranking), then the rest;
    a pair's Boltz-2 row links Chai-1's structure too, embedded for the offline viewer."""
    layout = aggregated_consensus_screen(tmp_path)
    assert report_main([str(layout.screen_dir)]) == 0
    page = layout.report / "index.html"
    table = page_table(page)
    values = table["values"]
    rows = list(zip(values["protein"], values["ligand_name"], values["agree"], strict=True))
    assert rows[:2] == [("P1", "pyrrole", "True"), ("P1", "azole", "True")]
    assert rows[2] == ("P1", "benzene", None)  # not compared: in the table's order after
    assert {protein for protein, *_ in rows[3:]} == {"P1_chai1"}
    chai = [entry for chunk in [piece(page, "rows-0")] for entry in chunk["chai1_structure"]]
    assert chai[0][1] == values["chai1_structure"][0] == "s1_P1_chai1_1_pyrrole.cif"
    assert table["structure_folders"][chai[0][0]].endswith("structures/P1_chai1/00000")
    assert chai[2] is None and chai[3:] == [None] * 3
    assert "s1_P1_chai1_1_pyrrole.cif" in table["embedded"]


def test_a_row_without_a_modelled_smiles_is_not_compared(tmp_path):
    """A CCD ligand's row (or a binder sequence's) has no SMILES to build the molecule from."""
    boltz = export(tmp_path, "P1", 0, complex_cif())
    chai = export(tmp_path, "P1_chai1", 0, as_chai(complex_cif()))
    structures = structure_paths(ScreenLayout(tmp_path).structure_folders())
    boltz_row = row("P1", 0, structure=boltz, confidence=0.9) | {"modeled_smiles": None}
    found = compare_rows(
        pd.Series(boltz_row),
        pd.Series(row("P1_chai1", 0, structure=chai, aggregate=0.7)),
        structures,
        boltz_ligand_chain="B",
        chai_ligand_chain="B",
        thresholds=ConsensusThresholds(),
    )
    assert found == {
        "consensus_error": "the row has no modelled SMILES (a CCD code or a binder sequence): "
        "not compared"
    }


def test_without_the_structures_the_scores_are_copied_and_nothing_is_compared(screen):
    """A running screen's progress page builds the table without the structures at hand."""
    config, table, compared = screen
    found = with_consensus(config, table, None)
    boltz = found[found["protein"] == "P1"].set_index("index")
    scores = ["chai1_aggregate_score", "chai1_iptm"]
    pd.testing.assert_frame_equal(
        boltz[scores], compared[compared["protein"] == "P1"].set_index("index")[scores]
    )
    assert boltz["consensus_rmsd"].isna().all()
    assert boltz.loc[0, "consensus_error"] == NOT_YET
    assert boltz.loc[2, "consensus_error"] == "Chai-1's prediction failed"


def test_the_dashboard_has_a_consensus_card(tmp_path):
    layout = aggregated_consensus_screen(tmp_path)
    assert report_main([str(layout.screen_dir)]) == 0
    page = (layout.report / "index.html").read_text()
    card = page[page.index('id="card-consensus"') :]
    card = card[: card.index("</div>")]
    assert "<b>P1</b> × <b>P1_chai1</b>: 2 of 2 compared agree" in card
    assert "pose RMSD ≤ 2 Å, receptors superposed · 1 not compared" in card


def test_the_consensus_card_states_the_pairs_confidence_gates(tmp_path):
    layout = aggregated_consensus_screen(
        tmp_path, pose_rmsd_a=1.5, min_boltz2_confidence=0.25, min_chai1_confidence=0.5
    )
    assert report_main([str(layout.screen_dir)]) == 0
    page = (layout.report / "index.html").read_text()
    card = page[page.index('id="card-consensus"') :]
    card = card[: card.index("</div>")]
    assert (
        "pose RMSD ≤ 1.5 Å, receptors superposed · Boltz-2 confidence ≥ 0.25"
        " · Chai-1 aggregate score ≥ 0.5 · 1 not compared" in card
    )


def test_each_protein_of_two_engines_gets_its_engines_plots(tmp_path):
    """The Boltz-2 protein's plots are of its affinity, the Chai-1 protein's of its aggregate
    score (its rows have no affinity; the Boltz-2 rows no aggregate score)."""
    layout = aggregated_consensus_screen(tmp_path)
    assert report_main([str(layout.screen_dir)]) == 0
    page = (layout.report / "index.html").read_text(encoding="utf-8")
    assert "Binder probability · P1:" in page  # (its synthetic rows have no affinity)
    assert "Chai-1 aggregate score · P1_chai1<" in page
    assert "Binder probability · P1_chai1" not in page
    assert not re.search("Chai-1 aggregate score · P1[<:]", page)
