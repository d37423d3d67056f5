"""The dashboard's pose checks: the PoseBusters column and filter, each pose's interactions
in the details, and per protein how often each residue is contacted by predicted binders."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd

from omtx_hub.aggregate import write_csv, write_parquet
from omtx_hub.result_tables import triage_rule_counts, triage_rules
from omtx_hub.testing.synthetic import make_plan, write_screen
from omtx_report.data import load_finished_screen, read_parquet_table
from omtx_report.render import render_dashboard, residue_contacts
from tests.dashboard_pages import page_table, piece

SMILES = ["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O", "CCCl"]
ROWS = [(f"L{i}", smiles, "") for i, smiles in enumerate(SMILES)]
HINGE = "A:MET318:hbond-donor;A:MET318:hydrophobic;A:LYS271:ionic"


def test_residue_contacts_count_each_compound_once_per_residue():
    rows = pd.DataFrame({"interactions": [HINGE, "A:MET318:hbond-acceptor", None, ""]})
    assert residue_contacts(rows) == {"A:MET318": 2, "A:LYS271": 1}


def test_dashboard_shows_filters_and_charts_the_pose_checks(tmp_path):
    plan = make_plan(tmp_path, ROWS, shard_size=3, top_n=6)
    screen_dir = write_screen(plan, tmp_path / "results")
    table = read_parquet_table(screen_dir / "batch_results.parquet")
    table["posebusters_pass"] = [True, False] * (len(table) // 2)
    table["posebusters_failed"] = ["", "bond_lengths;bond_angles"] * (len(table) // 2)
    table["interactions"] = HINGE
    write_csv(table, screen_dir / "batch_results.csv")
    write_parquet(table, screen_dir / "batch_results.parquet")
    data = load_finished_screen(screen_dir)
    page = render_dashboard(data, screen_dir / "report", top_n=6)
    html = page.read_text()
    table = page_table(page)
    shown = {c["key"]: c["shown"] for c in table["columns"]}
    assert shown["posebusters_pass"] is True
    assert shown["interactions"] is False and shown["posebusters_failed"] is False
    assert table["values"]["interactions"][0] == HINGE
    assert table["values"]["posebusters_pass"][:2] == ["True", "False"]
    # The PoseBusters filter tests a filter-column piece: each row's value by code.
    column = piece(page, table["filter_columns"]["posebusters_pass"])
    codes = np.frombuffer(base64.b64decode(column["codes"]), "<u4")
    assert [column["names"][code] for code in codes] == table["values"]["posebusters_pass"]
    assert 'id="filter-posebusters"' in html and "renderInteractions" in html
    assert 'id="filter-triage"' not in html  # no triage rules, no Triage filter
    binders = (data.table["affinity_probability_binary"] >= 0.5).sum()
    assert binders > 0
    chart = re.search(
        r"<svg[^>]*aria-label=\"Residues contacted by predicted binders\".*?</svg>", html, re.S
    )
    assert chart is not None
    assert f"A:MET318: {binders} of {binders} (100%)" in chart.group(0)


def test_the_triage_filter_reads_the_rules_failed_without_the_values_quoted(tmp_path):
    verdicts = pd.Series(
        ["pass", "alert PAINS_A; mw 512.25 outside [-, 500]", "mw 1e+09 outside [-, 500]", None]
    )
    assert list(triage_rules(verdicts).fillna("-")) == [
        "pass",
        "alert PAINS_A; mw outside [-, 500]",
        "mw outside [-, 500]",
        "-",
    ]
    assert triage_rule_counts(verdicts) == {"mw outside [-, 500]": 2, "alert PAINS_A": 1}
    plan = make_plan(tmp_path, ROWS, shard_size=3, top_n=6)
    screen_dir = write_screen(plan, tmp_path / "results")
    table = read_parquet_table(screen_dir / "batch_results.parquet")
    table["triage"] = ["pass", "mw 512.25 outside [-, 500]", "mw 600 outside [-, 500]"] * 2
    write_parquet(table, screen_dir / "batch_results.parquet")
    page = render_dashboard(load_finished_screen(screen_dir), screen_dir / "report", top_n=6)
    html, table = page.read_text(), page_table(page)
    # One dictionary entry per combination of failed rules, not per value quoted.
    column = piece(page, table["filter_columns"]["triage"])
    assert sorted(column["names"]) == ["mw outside [-, 500]", "pass"]
    codes = np.frombuffer(base64.b64decode(column["codes"]), "<u4")
    assert [column["names"][code] for code in codes] == list(
        triage_rules(pd.Series(table["values"]["triage"]))
    )
    assert '<option value="mw outside [-, 500]">fails mw outside [-, 500] (4)</option>' in html
