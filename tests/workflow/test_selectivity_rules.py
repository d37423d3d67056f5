"""A selectivity panel through Snakemake: the aggregate rule writes selectivity.csv as a
declared, report()-flagged output, and a changed panel reruns the aggregation and the
dashboard only. The shard manifests are synthetic (`omtx_hub.testing.synthetic`): no Boltz
runs, only the rules after the predictions."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import yaml

from omtx_hub.layout import ScreenLayout
from omtx_hub.testing.synthetic import make_plan, write_screen
from tests.screens import planned_jobs, run_snakemake

ROWS = [("ethanol", "CCO", "x"), ("ethanol-again", "OCC", "x"), ("phenol", "Oc1ccccc1", "x")]


def test_aggregate_rule_writes_selectivity_csv_and_a_panel_change_reruns_no_prediction(
    tmp_path,
):
    plan = make_plan(
        tmp_path, ROWS, proteins=3, selectivity={"target": "P1", "anti_targets": ["P2"]}
    )
    layout = ScreenLayout(write_screen(plan, tmp_path / "results"))
    expected = pd.read_csv(layout.selectivity)
    for written in (layout.summary, layout.table, layout.selectivity):
        written.unlink()
    config = tmp_path / "synthetic.yaml"
    run_snakemake(tmp_path, "--configfile", str(config))
    written = pd.read_csv(layout.selectivity)
    pd.testing.assert_frame_equal(written, expected)
    assert (layout.report / "index.html").is_file()

    run_snakemake(tmp_path, "--configfile", str(config), "--report", "report.zip")
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    assert any(Path(name).name == "selectivity.csv" for name in names)

    raw = yaml.safe_load(config.read_text())
    raw["selectivity"]["anti_targets"] = ["P2", "P3"]
    config.write_text(yaml.safe_dump(raw))
    planned = planned_jobs(run_snakemake(tmp_path, "-n", "--configfile", str(config)).stdout)
    assert planned.items() >= {"aggregate_screen": 1, "render_dashboard": 1, "total": 3}.items()
    assert "boltz_predict_shard" not in planned
