"""Replicates (`model.replicates`): keys and shards per replicate, and rows that report the
mean and spread of the replicates (omtx_hub.replicates)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pandas as pd
import pytest

from omtx_hub.config import ConfigError, load_config
from omtx_hub.layout import ScreenLayout
from omtx_hub.plan import build_plan
from omtx_hub.records import SCORE_FIELDS, read_manifest
from omtx_hub.replicates import combine_replicates
from omtx_hub.store import LocalStore
from omtx_hub.testing.synthetic import make_plan, write_screen
from omtx_report.data import load_finished_screen
from omtx_report.render import render_dashboard, table_columns
from tests.screens import running_screen_data
from tests.screens import write_screen as write_screen_config

ROWS = [("a", "CCO", "s1"), ("b", "c1ccccc1O", "s1"), ("ethanol", "OCC", "s2")]


def plan_of(tmp_path: Path, **model):
    raw = write_screen_config(tmp_path, model=model)
    config = load_config(raw)
    return build_plan(config, LocalStore(config.store))


def keys_by_replicate(plan) -> dict[int, list[str]]:
    keys: dict[int, list[str]] = {}
    for shard in plan.shards.values():
        keys.setdefault(shard.replicate, []).extend(t.key for t in shard.targets)
    return keys


def test_replicate_r_is_keyed_as_the_prediction_with_seed_plus_r(tmp_path):
    replicated = keys_by_replicate(plan_of(tmp_path, replicates=3, seed=4))
    assert sorted(replicated) == [0, 1, 2]
    for replicate, keys in replicated.items():
        # Replicate 0 keeps the keys of the screen without replicates: its store stays valid.
        assert keys == keys_by_replicate(plan_of(tmp_path, seed=4 + replicate))[0]
    assert len({key for keys in replicated.values() for key in keys}) == 3 * 5


def test_each_replicate_has_shards_of_its_own_with_its_seed_and_spec(tmp_path):
    plan = plan_of(tmp_path, replicates=2, seed=10)
    assert list(plan.shards) == [
        ("P1", "00000"),
        ("P1", "00001"),
        ("P1", "00002"),
        ("P1", "00000-r1"),
        ("P1", "00001-r1"),
        ("P1", "00002-r1"),
    ]
    assert plan.shard("P1", "00001").prediction["model"]["seed"] == 10
    assert plan.shard("P1", "00001-r1").prediction["model"]["seed"] == 11
    assert "replicates" not in plan.shard("P1", "00000").prediction["model"]
    assert {t.replicate for t in plan.shard("P1", "00002-r1").targets} == {1}
    # Without replicates the targets carry no replicate number (their params stay the same).
    single = plan_of(tmp_path)
    assert all("replicate" not in t for s in single.shards.values() for t in s.targets)
    assert single.target_count * 2 == plan.target_count


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"replicates": 2, "seed": None}, "set `seed`"),
        ({"replicates": 0}, "greater than or equal to 1"),
        ({"replicates": 21}, "less than or equal to 20"),
    ],
)
def test_replicates_are_validated(tmp_path, model, message):
    with pytest.raises(ConfigError, match=r"config key 'model[.a-z]*'.*" + message):
        load_config(write_screen_config(tmp_path, model=model))


@pytest.fixture
def replicated_screen(tmp_path):
    """A synthetic screen of three sheet rows (two of one compound) x three replicates, one
    replicate of compound b failed."""
    plan = make_plan(tmp_path, ROWS, shard_size=2, model={"replicates": 3, "seed": 5})
    screen_dir = write_screen(plan, tmp_path / "results", failed_every=4)
    records = [
        record
        for path in ScreenLayout(screen_dir).manifests()
        for record in read_manifest(path).records
    ]
    return plan, screen_dir, records


def test_rows_report_mean_spread_and_count_of_the_replicates(replicated_screen):
    plan, screen_dir, records = replicated_screen
    table = pd.read_csv(screen_dir / "batch_results.csv")
    assert sorted(table["ligand_name"]) == ["a", "b", "ethanol"]  # one row per sheet row
    for _, row in table.iterrows():
        replicates = sorted(
            (r for r in records if row["index"] in [ligand.index for ligand in r.ligands]),
            key=lambda r: r.replicate,
        )
        assert [r.replicate for r in replicates] == [0, 1, 2]
        done = [r for r in replicates if r.status == "completed"]
        assert row["replicates"] == len(done)
        for field in ("affinity_probability_binary", "affinity_pred_value", "confidence_score"):
            values = [getattr(r, field) for r in done]
            assert row[field] == pytest.approx(statistics.mean(values))
            assert row[f"{field}_std"] == pytest.approx(statistics.stdev(values))
        assert row["ic50_um"] == pytest.approx(10 ** row["affinity_pred_value"])
        assert row["key"] == replicates[0].key
        assert row["replicate_keys"].split(";") == [r.key for r in replicates]
        assert row["structure"] == f"synthetic_P1_{row['index']}_{row['ligand_id']}.cif"
    failed = table.set_index("ligand_name").loc["b"]
    assert failed["replicates"] == 2 and failed["status"] == "completed"
    assert failed["error"].startswith("replicate 1 (seed 6): ")
    # Ranked by the mean binder probability; rows of one compound share the rank.
    assert list(table["affinity_probability_binary"]) == sorted(
        table["affinity_probability_binary"], reverse=True
    )
    assert table.set_index("ligand_name").loc[["a", "ethanol"], "rank"].nunique() == 1


def test_only_replicate_0_exports_structures(replicated_screen):
    _, _, records = replicated_screen
    assert all(bool(r.structures) == (r.replicate == 0) for r in records if r.status == "completed")


def test_summary_and_top_hits_note_the_replicates(replicated_screen):
    _, screen_dir, _ = replicated_screen
    summary = json.loads((screen_dir / "summary.json").read_text())
    assert summary["replicates"]["count"] == 3
    assert summary["replicates"]["seeds"] == [5, 6, 7]
    assert summary["replicates"]["structure"].startswith("replicate 0 (seed 5)")
    assert summary["counts"]["targets"] == 2 * 3
    best = summary["best_targets"][0]
    assert {"affinity_probability_binary_std", "replicates"} <= set(best)


def test_dashboard_shows_the_spread_beside_each_mean(replicated_screen, tmp_path):
    _, screen_dir, _ = replicated_screen
    data = load_finished_screen(screen_dir)
    columns = {column["key"]: column for column in table_columns(data.table)}
    assert columns["affinity_probability_binary"]["spread"] == "affinity_probability_binary_std"
    assert columns["confidence_score"]["spread"] == "confidence_score_std"
    assert not columns["confidence_score_std"]["shown"]
    page = render_dashboard(data, tmp_path / "report").read_text()
    best = data.table.iloc[0]
    shown = f"P(binder) {best['affinity_probability_binary']:.3g} ± "
    assert shown + f"{best['affinity_probability_binary_std']:.3g}" in page
    assert "Scores are means over 3 replicates (seeds 5, 6, 7)" in page


def test_a_screen_without_replicates_keeps_its_columns(tmp_path):
    plan = make_plan(tmp_path, ROWS)
    table = pd.read_csv(write_screen(plan, tmp_path / "results") / "batch_results.csv")
    assert not {"replicates", "replicate_keys", "confidence_score_std"} & set(table.columns)
    assert not math.isnan(table["confidence_score"].iloc[0])


def test_a_running_screen_counts_the_replicates_done_so_far(tmp_path):
    # Replicate 0's shard finished, replicate 1's not started: each row has one replicate.
    plan = make_plan(tmp_path, ROWS, shard_size=2, model={"replicates": 2, "seed": 0})
    write_screen(plan, tmp_path / "results", shards_done=1)
    data = running_screen_data(plan, LocalStore(plan.config.store), tmp_path / "results")
    table = data.table
    assert sorted(table["ligand_name"]) == ["a", "b", "ethanol"]
    assert set(table["status"]) == {"completed"} and set(table["replicates"]) == {1}
    assert table["confidence_score_std"].isna().all()
    assert [shard["pending"] for shard in data.shards] == [0, 2]


def test_a_row_is_completed_by_one_replicate_else_pending_else_failed():
    outcomes = {1: ("failed", "completed"), 2: ("failed", "pending"), 3: ("failed", "failed")}
    rows = pd.DataFrame(
        [
            {
                "protein": "P1",
                "index": index,
                "replicate": replicate,
                "status": status,
                "error": "boom" if status == "failed" else None,
                "source": "reused" if status == "completed" else status,
                "runtime_s": 1.0,
                "key": f"k{index}-{replicate}",
                **dict.fromkeys(SCORE_FIELDS, 0.5 if status == "completed" else None),
            }
            for index, statuses in outcomes.items()
            for replicate, status in enumerate(statuses)
        ]
    )
    combined = combine_replicates(rows, seeds=[7, 8]).set_index("index")
    assert list(combined["status"]) == ["completed", "pending", "failed"]
    assert list(combined["source"]) == ["reused", "pending", "failed"]
    assert list(combined["replicates"]) == [1, 0, 0]
    assert combined.loc[3, "error"] == "replicate 0 (seed 7): boom | replicate 1 (seed 8): boom"
    assert combined.loc[2, "runtime_s"] == 2.0
