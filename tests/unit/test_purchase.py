"""`omtx-hub purchase-list` (omtx_hub.purchase): a purchase list and its structures copied
into a folder, from the dashboard's export or the screen's purchase_list.csv."""

from __future__ import annotations

import pandas as pd

from omtx_hub.cli import main
from omtx_hub.layout import ScreenLayout
from omtx_hub.testing.synthetic import make_plan, write_screen


def screen(tmp_path):
    plan = make_plan(tmp_path, [("L0", "CCO"), ("L1", "CCN"), ("L2", "c1ccccc1")], shard_size=2)
    return write_screen(plan, tmp_path / "results", failed_every=0)


def test_selected_targets_and_their_structures_are_copied(tmp_path, capsys):
    screen_dir = screen(tmp_path)
    table = pd.read_csv(ScreenLayout(screen_dir).table)
    selected = table.head(2).copy()
    # A name that is no structure of the screen (a path out of it too) is copied from nowhere.
    extra = selected.head(1).assign(ligand_name="ghost", structure="../../summary.json")
    exported = tmp_path / "s1_purchase_list.csv"
    pd.concat([selected, extra]).to_csv(exported, index=False)

    out = tmp_path / "buy"
    assert (
        main(["purchase-list", str(screen_dir), "--selected", str(exported), "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr()
    assert "3 targets, 2 structures" in printed.out
    assert "1 structures are not in" in printed.err and "../../summary.json" in printed.err
    written = pd.read_csv(out / "purchase_list.csv", keep_default_na=False)
    assert list(written["ligand_name"]) == [*selected["ligand_name"], "ghost"]
    assert list(written["structure"]) == [f"structures/{n}" for n in selected["structure"]] + [""]
    for name in selected["structure"]:
        source = next(p for p in ScreenLayout(screen_dir).structure_files() if p.name == name)
        assert (out / "structures" / name).read_bytes() == source.read_bytes()
    assert sorted(p.name for p in (out / "structures").iterdir()) == sorted(selected["structure"])


def test_a_screen_without_triage_rules_has_no_list_to_copy(tmp_path, capsys):
    screen_dir = screen(tmp_path)
    assert main(["purchase-list", str(screen_dir), "--out", str(tmp_path / "buy")]) == 1
    error = capsys.readouterr().err
    assert "purchase_list.csv: no such file" in error and "--selected" in error


def test_a_list_without_structures_is_refused(tmp_path, capsys):
    screen_dir = screen(tmp_path)
    exported = tmp_path / "names.csv"
    exported.write_text("ligand_name\nL0\n")
    assert (
        main(
            [
                "purchase-list",
                str(screen_dir),
                "--selected",
                str(exported),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "has no `structure` column" in capsys.readouterr().err
