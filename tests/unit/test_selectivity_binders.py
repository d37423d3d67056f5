"""Selectivity panels of binder-sequence screens (issue 22 item 3): each binder's
`binder_iptm` on the target against the anti-targets, from hand-made result rows, the
config and plan that allow it, summary.json's part and the dashboard's view."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.result_tables import selectivity_columns
from omtx_hub.selectivity import selectivity_summary, selectivity_table
from omtx_hub.store import LocalStore
from omtx_hub.summary import Selectivity
from omtx_report.render import selectivity_view
from tests.screens import write_screen


def row(protein, index, sequence, status, iptm=None, rank=1, name=None, error=None):
    """A binder screen's batch_results.csv row (its binder columns, no molecule's)."""
    return {
        "protein": protein,
        "index": index,
        "ligand_name": name or f"b{index}",
        "ligand_id": name or f"b{index}",
        "sequence": sequence,
        "chain_type": "protein",
        "binder_msa": "empty",
        "cyclic": "false",
        "status": status,
        "error": error,
        "binder_iptm": iptm,
        "rank": rank,
    }


RESULTS = pd.DataFrame(
    [
        row("T", 1, "GSWAEK", "completed", 0.80, rank=2),
        row("T", 2, "CRGDKC", "completed", 0.90, rank=1),
        row("T", 3, "GSWAEK", "completed", 0.80, rank=2, name="again"),  # row 1's binder
        row("T", 4, "PPGPPG", "completed", 0.40, rank=3),
        row("X", 1, "GSWAEK", "completed", 0.30),
        row("X", 2, "CRGDKC", "completed", 0.95),
        row("X", 3, "GSWAEK", "completed", 0.30, name="again"),
        row("X", 4, "PPGPPG", "failed", error="CUDA out of memory"),
        row("Y", 1, "GSWAEK", "completed", 0.50),
        row("Y", 2, "CRGDKC", "completed", 0.10),
        row("Y", 3, "GSWAEK", "completed", 0.50, name="again"),
        row("Y", 4, "PPGPPG", "completed", 0.20),
    ]
)


def test_a_binder_panel_compares_binder_iptm_target_minus_the_closest_anti_target():
    panel = selectivity_table(RESULTS, "T", ["X", "Y"], binder_threshold=0.5)
    # The columns say which score: binder_iptm; no affinity, no binder rule, no SMILES.
    assert list(panel.columns) == selectivity_columns("T", ["X", "Y"], binders=True)
    assert {"binder_iptm_T", "delta_binder_iptm_X", "selectivity_binder_iptm"} <= set(panel)
    assert not {c for c in panel.columns if "pic50" in c or "affinity" in c or "smiles" in c}
    assert "predicted_binder_of" not in panel.columns
    # One row per binder, in the target's rank order; a binder under two names once.
    assert panel["sequence"].tolist() == ["CRGDKC", "GSWAEK", "PPGPPG"]
    rgd, gswaek, ppg = (panel.iloc[i] for i in range(3))
    assert (gswaek["ligand_name"], gswaek["index"], gswaek["sheet_rows"]) == ("b1", 1, 2)
    # GSWAEK: 0.8 on T, 0.3 on X, 0.5 on Y: its margin is over Y, the closest.
    assert gswaek["delta_binder_iptm_X"] == pytest.approx(0.5)
    assert gswaek["delta_binder_iptm_Y"] == pytest.approx(0.3)
    assert gswaek["selectivity_binder_iptm"] == pytest.approx(0.3)
    # CRGDKC binds X better than T: a negative margin, whatever Y says.
    assert rgd["selectivity_binder_iptm"] == pytest.approx(-0.05)
    assert rgd["missing"] == "" and gswaek["missing"] == ""
    # A failed anti-target leaves its value and the margin empty, with the reason.
    assert ppg["missing"] == "X: failed (CUDA out of memory)"
    assert math.isnan(ppg["binder_iptm_X"]) and math.isnan(ppg["selectivity_binder_iptm"])
    assert ppg["delta_binder_iptm_Y"] == pytest.approx(0.2)
    assert (ppg["status_X"], ppg["status_Y"]) == ("failed", "completed")


def test_a_completed_binder_without_binder_iptm_is_missing_it():
    table = pd.DataFrame(
        [row("T", 1, "GSWAEK", "completed", 0.8), row("X", 1, "GSWAEK", "completed", None)]
    )
    (binder,) = selectivity_table(table, "T", ["X"], binder_threshold=0.5).to_dict("records")
    assert binder["missing"] == "X: no binder_iptm"
    assert math.isnan(binder["selectivity_binder_iptm"])


def test_summary_of_a_binder_panel_counts_the_compared_and_has_no_binder_rule():
    panel = selectivity_table(RESULTS, "T", ["X", "Y"], binder_threshold=0.5)
    part = selectivity_summary(panel, "T", ["X", "Y"])
    assert (part.compounds, part.compared) == (3, 2)
    # Absent from summary.json, not 0: Boltz documents no ipTM threshold for a binder.
    assert "binders_of_target_only" not in part.model_dump(exclude_unset=True)
    assert Selectivity.model_validate(part.model_dump(exclude_unset=True)) == part


def test_a_binder_screen_plans_a_panel_without_affinity(tmp_path):
    (tmp_path / "binders.csv").write_text("name,sequence,chain_type\np1,GSWAEK,peptide\n")
    raw = write_screen(tmp_path, model={"affinity": False})
    raw["proteins"].append({"name": "P2", "sequence": "MKTAYIAKQRQISFVKSHFS", "msa": "empty"})
    raw |= {
        "ligands": str(tmp_path / "binders.csv"),
        "selectivity": {"target": "P1", "anti_targets": "P2"},
    }
    config = load_config(raw)
    assert len(list(build_plan(config, LocalStore(config.store)).targets())) == 2


def test_the_dashboard_view_of_a_binder_panel_shows_binder_iptm_linked_to_each_row(tmp_path):
    panel = selectivity_table(RESULTS, "T", ["X", "Y"], binder_threshold=0.5)
    # The page's table in another order than the sheet's.
    table = RESULTS.sort_values(["protein", "rank", "index"], kind="stable").reset_index(drop=True)
    data = SimpleNamespace(
        summary=SimpleNamespace(selectivity=selectivity_summary(panel, "T", ["X", "Y"])),
        selectivity=panel.astype(str).replace({"nan": None, "<NA>": None}),
        table=table,
        screen_dir=tmp_path,
    )
    view = selectivity_view(data, tmp_path / "report")
    keys = [column["key"] for column in view["columns"]]
    assert {"binder_iptm_T", "delta_binder_iptm_Y", "selectivity_binder_iptm"} <= set(keys)
    assert not {"predicted_binder_of", "pic50_not_compared"} & set(keys)
    assert view["values"]["selectivity_binder_iptm"][:2] == pytest.approx([-0.05, 0.3])
    for protein, rows in view["table_rows"].items():
        for index, position in zip(panel["index"], rows, strict=True):
            assert (table["protein"][position], table["index"][position]) == (protein, index)
