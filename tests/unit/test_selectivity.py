"""Selectivity panels: the config's `selectivity`, selectivity.csv per distinct compound and
summary.json's `selectivity`, from a synthetic screen (real plan and aggregation, made-up
scores) and from hand-made rows."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from omtx_hub.aggregate import write_results
from omtx_hub.config import ConfigError, load_config
from omtx_hub.layout import ScreenLayout
from omtx_hub.plan import build_plan
from omtx_hub.result_tables import selectivity_columns
from omtx_hub.selectivity import selectivity_table
from omtx_hub.store import LocalStore
from omtx_hub.testing.synthetic import FAILURE, make_plan, write_screen
from omtx_report.data import load_finished_screen, read_table
from omtx_report.render import render_dashboard
from tests.dashboard_pages import page_table
from tests.screens import running_screen_data

PANEL = {"target": "P1", "anti_targets": ["P2", "P3"]}
# `OCC` is `CCO` written another way: one compound under two names.
ROWS = [(f"L{i}", s, "x") for i, s in enumerate(["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O"])]
ROWS += [("ethanol-again", "OCC", "x"), ("L6", "CCCl", "x")]
HOSTILE = "<script>alert(1)</script>"
ROWS += [(HOSTILE, "CCCCO", "x")]


def screen_config(tmp_path, **overrides) -> dict:
    sheet = tmp_path / "ligands.csv"
    sheet.write_text("name,smiles\naspirin,CC(=O)Oc1ccccc1C(=O)O\n")
    proteins = [{"name": name, "sequence": "MKTAYIAKQR", "msa": "empty"} for name in "ABC"]
    return {"screen": {"name": "panel"}, "proteins": proteins, "ligands": str(sheet)} | overrides


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_config(raw)
    return str(error.value).splitlines()[1:]


def test_a_panel_names_its_target_and_anti_targets(tmp_path):
    panel = {"target": "A", "anti_targets": ["B", "C"]}
    assert load_config(screen_config(tmp_path, selectivity=panel)).selectivity.model_dump() == panel
    one = load_config(screen_config(tmp_path, selectivity={"target": "A", "anti_targets": "B"}))
    assert one.selectivity.anti_targets == ["B"]
    assert load_config(screen_config(tmp_path)).selectivity is None


def test_panel_names_must_be_the_screens_proteins(tmp_path):
    panel = {"target": "ABL1", "anti_targets": ["B", "KIT"]}
    assert problems(screen_config(tmp_path, selectivity=panel)) == [
        "  - config key 'selectivity.target': 'ABL1' is not a protein of this screen "
        "(proteins: A, B, C)",
        "  - config key 'selectivity.anti_targets[1]': 'KIT' is not a protein of this screen "
        "(proteins: A, B, C)",
    ]


def test_the_target_is_not_its_own_anti_target_and_none_is_listed_twice(tmp_path):
    panel = {"target": "A", "anti_targets": ["A", "B", "B"]}
    assert problems(screen_config(tmp_path, selectivity=panel)) == [
        "  - config key 'selectivity.anti_targets[0]': 'A' is `target`: it is not its own "
        "anti-target",
        "  - config key 'selectivity.anti_targets[2]': 'B' is listed twice",
    ]


@pytest.mark.parametrize(
    ("panel", "message"),
    [
        ({"target": "A", "anti_targets": []}, "'selectivity.anti_targets': List should have at"),
        ({"target": "A"}, "'selectivity.anti_targets': required but missing"),
        ({"target": "A", "anti_targets": ["B"], "of": ["C"]}, "'selectivity.of': unknown key"),
    ],
)
def test_panel_shape_is_checked_by_key(tmp_path, panel, message):
    assert any(message in line for line in problems(screen_config(tmp_path, selectivity=panel)))


def test_on_and_off_which_yaml_reads_as_booleans_get_the_keys_to_use(tmp_path):
    panel = yaml.safe_load("{on: A, off: [B]}")
    assert panel == {True: "A", False: ["B"]}
    (line,) = problems(screen_config(tmp_path, selectivity=panel))
    assert line.startswith("  - config key 'selectivity': YAML reads `on:`/`off:`")
    assert "{target: NAME, anti_targets: [NAME, ...]}" in line


def test_a_panel_of_molecules_needs_affinity(tmp_path):
    # Checked with the sheet, at planning: a binder-sequence screen's panel compares
    # binder_iptm (tests/unit/test_selectivity_binders.py).
    raw = screen_config(
        tmp_path,
        selectivity={"target": "A", "anti_targets": ["B"]},
        model={"affinity": False},
        store=str(tmp_path / "store"),
    )
    config = load_config(raw)
    with pytest.raises(ConfigError) as error:
        build_plan(config, LocalStore(config.store))
    assert str(error.value).splitlines()[1:] == [
        "  - config key 'selectivity': a panel of molecules compares binder probability and "
        "pIC50, which need model.affinity: true (a binder-sequence screen's compares "
        "binder_iptm)"
    ]


@pytest.fixture(scope="module")
def panel_screen(tmp_path_factory):
    """Four proteins (P4 outside the panel); every fifth target fails."""
    workdir = tmp_path_factory.mktemp("selectivity")
    plan = make_plan(workdir, ROWS, shard_size=3, proteins=4, selectivity=PANEL)
    return plan, write_screen(plan, workdir / "results", failed_every=5)


def test_selectivity_csv_has_each_compound_once_with_every_panel_proteins_scores(panel_screen):
    plan, screen_dir = panel_screen
    layout = ScreenLayout(screen_dir)
    results = read_table(layout.table)
    panel = read_table(layout.selectivity)
    assert list(panel.columns) == selectivity_columns("P1", ["P2", "P3"])
    assert not any(column.endswith("_P4") for column in panel.columns)
    assert sorted(panel["modeled_smiles"]) == sorted(plan.ligands["modeled_smiles"].unique())
    ethanol = panel[panel["modeled_smiles"] == "CCO"].iloc[0]
    assert (ethanol["ligand_name"], ethanol["index"], ethanol["sheet_rows"]) == ("L0", 1, 2)
    for _, compound in panel.iterrows():
        for protein in ("P1", "P2", "P3"):
            (row,) = (
                results[
                    (results["protein"] == protein)
                    & (results["modeled_smiles"] == compound["modeled_smiles"])
                ]
                .drop_duplicates("key")
                .to_dict("records")
            )
            assert compound[f"status_{protein}"] == row["status"]
            probability = compound[f"affinity_probability_binary_{protein}"]
            assert probability == pytest.approx(row["affinity_probability_binary"], nan_ok=True)
            # pIC50 of the predicted binders only (report.binder_threshold: 0.5).
            binder = row["status"] == "completed" and row["affinity_probability_binary"] >= 0.5
            pic50 = row["pic50"] if binder else math.nan
            assert compound[f"pic50_{protein}"] == pytest.approx(pic50, nan_ok=True)
    # In the target's rank order.
    assert panel["rank"].tolist() == sorted(panel["rank"])


def test_differences_are_target_minus_each_anti_target_and_the_margin_the_smallest(panel_screen):
    panel = read_table(ScreenLayout(panel_screen[1]).selectivity)
    compared = panel[panel["missing"].isna()]
    assert len(compared) >= 2
    for score, margin in (
        ("affinity_probability_binary", "selectivity_binder_probability"),
        ("pic50", "selectivity_pic50"),
    ):
        deltas = {
            anti: compared[f"{score}_P1"] - compared[f"{score}_{anti}"] for anti in ("P2", "P3")
        }
        for anti, delta in deltas.items():
            assert compared[f"delta_{score}_{anti}"].to_numpy() == pytest.approx(
                delta.to_numpy(), nan_ok=True
            )
        # Over the anti-targets with a value: every one for binder probability, those the
        # compound is predicted to bind for pIC50.
        smallest = pd.concat(deltas, axis=1).min(axis=1)
        assert compared[margin].to_numpy() == pytest.approx(smallest.to_numpy(), nan_ok=True)
    # A Δ pIC50 exactly where the compound is a predicted binder of the target and of that
    # anti-target.
    binder_of = compared["predicted_binder_of"].fillna("").str.split(";")
    for anti in ("P2", "P3"):
        both = binder_of.map(lambda proteins, anti=anti: {"P1", anti} <= set(proteins))
        assert compared[f"delta_pic50_{anti}"].notna().tolist() == both.tolist()


def test_a_failed_target_leaves_its_values_empty_with_the_reason(panel_screen):
    panel = read_table(ScreenLayout(panel_screen[1]).selectivity)
    incomplete = panel[panel["missing"].notna()]
    assert len(incomplete) >= 1
    for _, compound in incomplete.iterrows():
        failed = [p for p in ("P1", "P2", "P3") if compound[f"status_{p}"] == "failed"]
        assert failed
        assert compound["missing"] == "; ".join(f"{p}: failed ({FAILURE})" for p in failed)
        for protein in failed:
            assert math.isnan(compound[f"pic50_{protein}"])
        assert math.isnan(compound["selectivity_pic50"])
        assert math.isnan(compound["selectivity_binder_probability"])


def test_summary_counts_the_compared_compounds_and_the_targets_own_binders(panel_screen):
    plan, screen_dir = panel_screen
    layout = ScreenLayout(screen_dir)
    document = json.loads(layout.summary.read_text())
    panel = read_table(layout.selectivity)
    compared = panel["missing"].isna()
    assert document["selectivity"] == {
        "target": "P1",
        "anti_targets": ["P2", "P3"],
        "file": "selectivity.csv",
        "compounds": len(panel),
        "compared": int(compared.sum()),
        "binders_of_target_only": int((compared & (panel["predicted_binder_of"] == "P1")).sum()),
    }
    # Every protein of the screen is still summarised on its own.
    assert set(document["per_protein"]) == {"P1", "P2", "P3", "P4"}


def test_a_panel_screen_needs_the_selectivity_file_name(panel_screen, tmp_path):
    plan, screen_dir = panel_screen
    layout = ScreenLayout(screen_dir)
    with pytest.raises(ValueError, match="give selectivity_path"):
        write_results(
            plan,
            layout.manifests(),
            tmp_path / "t.csv",
            tmp_path / "s.json",
            parquet_path=tmp_path / "t.parquet",
        )


def row(protein, index, smiles, status, probability=None, pic50=None, rank=1, error=None):
    return {
        "protein": protein,
        "index": index,
        "ligand_name": f"n{index}",
        "ligand_id": f"n{index}",
        "modeled_smiles": smiles,
        "status": status,
        "error": error,
        "affinity_probability_binary": probability,
        "pic50": pic50,
        "rank": rank,
    }


def test_values_by_hand_with_a_pending_and_a_missing_target():
    table = pd.DataFrame(
        [
            row("T", 1, "CCO", "completed", 0.9, 7.0, rank=2),
            row("T", 2, "CCN", "completed", 0.8, 8.0, rank=1),
            row("T", 3, "CCC", "completed", 0.7, 6.0, rank=3),
            row("X", 1, "CCO", "completed", 0.2, 5.5),
            row("X", 2, "CCN", "completed", 0.6, 8.5),
            row("X", 3, "CCC", "pending"),
            row("Y", 1, "CCO", "completed", 0.4, 4.0),
            row("Y", 2, "CCN", "completed", 0.3, 6.0),
        ]
    )
    panel = selectivity_table(table, "T", ["X", "Y"], binder_threshold=0.5)
    assert panel["modeled_smiles"].tolist() == ["CCN", "CCO", "CCC"]  # T's rank order
    ccn, cco, ccc = (panel.iloc[i] for i in range(3))
    # CCN binds T and X, not Y: Δ pIC50 against X only, and the margin is over X.
    assert ccn["delta_pic50_X"] == pytest.approx(-0.5) and math.isnan(ccn["delta_pic50_Y"])
    assert math.isnan(ccn["pic50_Y"]) and ccn["pic50_X"] == 8.5
    assert ccn["selectivity_pic50"] == pytest.approx(-0.5)
    assert ccn["selectivity_binder_probability"] == pytest.approx(0.2)  # over X and Y
    assert ccn["predicted_binder_of"] == "T;X"
    assert ccn["pic50_not_compared"] == "Y: not a predicted binder (P(binder) 0.3 < 0.5)"
    # CCO binds T only: selective by binder probability; no anti-target pIC50 to compare.
    assert cco["predicted_binder_of"] == "T" and cco["missing"] == ""
    assert math.isnan(cco["delta_pic50_X"]) and math.isnan(cco["selectivity_pic50"])
    assert cco["selectivity_binder_probability"] == pytest.approx(0.5)
    assert cco["pic50_not_compared"] == (
        "X: not a predicted binder (P(binder) 0.2 < 0.5); "
        "Y: not a predicted binder (P(binder) 0.4 < 0.5)"
    )
    assert ccc["missing"] == "X: pending; Y: not predicted"
    assert (ccc["status_X"], ccc["status_Y"]) == ("pending", "not predicted")
    assert ccc["pic50_T"] == 6.0 and math.isnan(ccc["delta_pic50_X"])
    assert math.isnan(ccc["selectivity_pic50"]) and math.isnan(
        ccc["selectivity_binder_probability"]
    )


def test_a_compound_predicted_to_bind_neither_protein_gets_no_pic50_margin():
    # The audit's case: at P(binder) 0.1 and 0.3 it had the largest Δ pIC50 (9 - 4 = 5),
    # values Boltz does not vouch for ("only ... when comparing different active molecules").
    table = pd.DataFrame(
        [
            row("T", 1, "CCO", "completed", 0.1, 9.0, rank=2),
            row("T", 2, "CCN", "completed", 0.9, 7.0, rank=1),
            row("X", 1, "CCO", "completed", 0.3, 4.0),
            row("X", 2, "CCN", "completed", 0.7, 6.5),
        ]
    )
    panel = selectivity_table(table, "T", ["X"], binder_threshold=0.5).set_index("modeled_smiles")
    neither, both = panel.loc["CCO"], panel.loc["CCN"]
    for column in ("pic50_T", "pic50_X", "delta_pic50_X", "selectivity_pic50"):
        assert math.isnan(neither[column])
    assert neither["pic50_not_compared"] == (
        "T: not a predicted binder (P(binder) 0.1 < 0.5); "
        "X: not a predicted binder (P(binder) 0.3 < 0.5)"
    )
    assert neither["selectivity_binder_probability"] == pytest.approx(-0.2)
    assert neither["predicted_binder_of"] == "" and neither["missing"] == ""
    assert both["selectivity_pic50"] == pytest.approx(0.5)
    assert both["pic50_not_compared"] == ""
    assert panel["selectivity_pic50"].max() == pytest.approx(0.5)


def test_a_completed_target_without_affinity_leaves_the_margins_empty_as_missing():
    table = pd.DataFrame(
        [
            row("T", 1, "CCO", "completed", 0.9, 7.0),
            row("X", 1, "CCO", "completed", 0.8, 6.0),
            row("Y", 1, "CCO", "completed"),  # no affinity prediction
        ]
    )
    (compound,) = selectivity_table(table, "T", ["X", "Y"], binder_threshold=0.5).to_dict("records")
    assert compound["missing"] == "Y: no affinity prediction"
    assert compound["pic50_not_compared"] == ""  # not a non-binder: no score at all
    assert compound["delta_pic50_X"] == pytest.approx(1.0)
    assert math.isnan(compound["selectivity_pic50"])
    assert math.isnan(compound["selectivity_binder_probability"])


def embedded(page: Path, element: str) -> dict | None:
    found = re.search(
        rf'<script type="application/json" id="{element}">(.*?)</script>', page.read_text(), re.S
    )
    return json.loads(found.group(1)) if found else None


def test_dashboard_shows_compounds_by_targets_linked_to_each_targets_row(panel_screen):
    _, screen_dir = panel_screen
    page = render_dashboard(load_finished_screen(screen_dir), screen_dir / "report")
    html = page.read_text()
    assert 'id="selectivity-panel"' in html and "Selectivity: P1 vs. P2, P3" in html
    assert HOSTILE not in html
    assert 'href="../selectivity.csv"' in html
    view = embedded(page, "selectivity-data")
    table = page_table(page)["values"]
    panel = read_table(ScreenLayout(screen_dir).selectivity)
    assert view["rows"] == len(panel)
    keys = [column["key"] for column in view["columns"]]
    assert {"selectivity_pic50", "delta_pic50_P2", "pic50_P3", "ligand_name"} <= set(keys)
    assert view["values"]["ligand_name"] == panel["ligand_name"].tolist()
    for key in ("selectivity_pic50", "delta_affinity_probability_binary_P3", "pic50_P2"):
        shown = [math.nan if value is None else value for value in view["values"][key]]
        assert shown == pytest.approx(panel[key].tolist(), rel=1e-3, nan_ok=True)
    # Each protein's cell of a compound opens that protein's row of the compound.
    for protein, rows in view["table_rows"].items():
        for smiles, row in zip(panel["modeled_smiles"], rows, strict=True):
            assert (table["protein"][row], table["modeled_smiles"][row]) == (protein, smiles)
    failed = view["values"]["status_P1"].index("failed")
    assert view["values"]["missing"][failed].startswith("P1: failed")
    compared = int(panel["selectivity_pic50"].idxmax())  # the view has the CSV's row order
    assert view["values"]["missing"][compared] is None
    assert view["values"]["predicted_binder_of"].count(None) == (
        panel["predicted_binder_of"].isna().sum()
    )


def test_a_running_screen_shows_its_panel_with_pending_targets(tmp_path):
    plan = make_plan(tmp_path, ROWS, shard_size=3, proteins=3, selectivity=PANEL)
    write_screen(plan, tmp_path / "results", shards_done=2)
    data = running_screen_data(plan, LocalStore(plan.config.store), tmp_path / "results")
    page = render_dashboard(data, tmp_path / "report", live=True)
    view = embedded(page, "selectivity-data")
    assert "pending" in view["values"]["status_P3"]
    pending = view["values"]["status_P3"].index("pending")
    assert view["values"]["selectivity_pic50"][pending] is None
    assert "P3: pending" in view["values"]["missing"][pending]
    assert view["download"] is None  # no selectivity.csv until the aggregation


def test_a_screen_without_a_panel_has_no_selectivity_view(tmp_path):
    plan = make_plan(tmp_path, ROWS[:3], proteins=2)
    screen_dir = write_screen(plan, tmp_path / "results")
    assert not ScreenLayout(screen_dir).selectivity.exists()
    assert "selectivity" not in json.loads(ScreenLayout(screen_dir).summary.read_text())
    page = render_dashboard(load_finished_screen(screen_dir), screen_dir / "report")
    assert embedded(page, "selectivity-data") is None
    assert "selectivity-panel" not in page.read_text()


def test_a_panel_changes_no_key(tmp_path):
    def keys(plan):
        return sorted(t.key for shard in plan.shards.values() for t in shard.targets)

    (tmp_path / "plain").mkdir()
    plain = make_plan(tmp_path / "plain", ROWS, proteins=3)
    panel = make_plan(tmp_path, ROWS, proteins=3, selectivity=PANEL)
    assert keys(panel) == keys(plain)
