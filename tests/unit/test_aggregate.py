import csv
import hashlib
import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omtx_hub import aggregate
from omtx_hub.aggregate import read_manifests, results_table, summary, write_results
from omtx_hub.config import load_config
from omtx_hub.layout import ScreenLayout
from omtx_hub.msa_server import store_server_msas
from omtx_hub.plan import build_plan
from omtx_hub.protein_summary import OVER_BINDERS, OVER_COMPLETED, without_not_applicable
from omtx_hub.records import SCORE_FIELDS
from omtx_hub.result_tables import (
    FLAG_MEANINGS,
    neutralise_formula_text,
    restore_formula_text,
)
from omtx_hub.store import LocalStore
from omtx_hub.testing.synthetic import make_plan, write_shard_manifest
from omtx_hub.testing.synthetic import write_screen as synthetic_screen
from omtx_report.data import read_selectivity, read_table
from tests.screens import SHORT_PROTEIN, assert_parquet_is_the_csv, write_screen


def fake_manifests(plan, directory, *, failed=(), scores_of=None):
    """Shard manifests as ShardJob writes them, with chosen scores per protein and compound:
    scores_of[protein][smiles] = (binder probability, log10 IC50, confidence); each head of
    the affinity ensemble 0.1 off the ensemble's value, either way."""
    paths = []
    for (protein, shard), content in plan.shards.items():
        records = []
        for target in content.targets:
            status = "failed" if target.smiles in failed else "completed"
            record = {
                "key": target.key,
                "protein": protein,
                "ligands": target.ligands,
                "smiles": target.smiles,
                "status": status,
                "error": "Boltz wrote nothing" if status == "failed" else None,
                "source": "computed",
                "weights": {"identity": "x", "released": plan.weights.released, "note": ""},
                "structures": {a.ligand_id: f"{a.ligand_id}.cif" for a in target.ligands}
                if status == "completed"
                else {},
            }
            if status == "completed":
                probability, value, confidence = scores_of[protein][target.smiles]
                record |= {
                    "affinity_probability_binary": probability,
                    "affinity_probability_binary1": probability - 0.05,
                    "affinity_probability_binary2": probability + 0.05,
                    "affinity_pred_value": value,
                    "affinity_pred_value1": value - 0.1,
                    "affinity_pred_value2": value + 0.1,
                    "ic50_um": 10**value,
                    "pic50": 6 - value,
                    "confidence_score": confidence,
                    "iptm": 0.4,
                    "ligand_iptm": 0.4,
                    "protein_iptm": 0.0,  # as Boltz writes it for one protein chain
                }
            records.append(record)
        path = write_shard_manifest(
            directory / f"{protein}-{shard}.json",
            plan,
            protein,
            shard,
            records,
            failed=sum(r["status"] == "failed" for r in records),
            boltz_wall_s=10.0,
            job_wall_s=12.0,
        )
        paths.append(path)
    return paths


# (name, SMILES, series). NCC is CCN written another way: one compound under two names.
ROWS = [
    ("weak", "CCO", "A"),
    ("strong", "CCN", "B"),
    ("broken", "CCC", "C"),
    ("strong-too", "NCC", "D"),
    ("mid", "c1ccccc1", "E"),
    ("tie", "CCCl", "F"),
    ("potent", "c1ccncc1", "G"),
    ("decoy", "CCCBr", "H"),
]
# (binder probability, log10 IC50 in uM, confidence). On P1 the non-binders weak and decoy
# have the lowest affinity values, mid sits exactly on the 0.5 threshold, and tie equals
# strong in every score.
P1_SCORES = {
    "CCO": (0.1, -6.0, 0.9),
    "CCN": (0.9, -2.0, 0.5),
    "c1ccccc1": (0.5, 2.0, 0.8),
    "CCCl": (0.9, -2.0, 0.5),
    "c1ccncc1": (0.7, -4.0, 0.6),
    "CCCBr": (0.3, -5.0, 0.4),
}
# P2: one binder (weak, on P1 a non-binder); strong is its most confident structure.
P2_SCORES = {smiles: (0.2, 0.0, 0.3) for smiles in P1_SCORES}
P2_SCORES["CCO"] = (0.8, 1.0, 0.3)
P2_SCORES["CCN"] = (0.2, 0.0, 0.95)


def make_screen(directory, **report):
    raw = write_screen(
        directory,
        rows=ROWS,
        extra_columns="series",
        shard_size=4,
        report={"top_n": 5, **report},
        proteins=[
            {"name": "P1", "sequence": SHORT_PROTEIN},
            {"name": "P2", "sequence": "MKTAYIAKQRQISFVKSHFSRQ"},
        ],
    )
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    scores_of = {"P1": P1_SCORES, "P2": P2_SCORES}
    return plan, fake_manifests(plan, directory, failed={"CCC"}, scores_of=scores_of)


@pytest.fixture
def screen(tmp_path):
    return make_screen(tmp_path)


def ranked(plan, manifests) -> pd.DataFrame:
    return results_table(plan, read_manifests(manifests)[0])


def order(table, protein):
    rows = table[table["protein"] == protein]
    return list(zip(rows["ligand_name"], rows["rank"], strict=True))


# Each rule's expected P1 order, rank by rank (docs/results.md, Ranking).
EXPECTED_P1 = {
    # P(binder) high to low; tie equals strong, so sheet order (strong is row 2, tie row 6).
    "binder_probability": [
        ("strong", 1), ("strong-too", 1), ("tie", 2), ("potent", 3), ("mid", 4),
        ("decoy", 5), ("weak", 6), ("broken", 7),
    ],
    # Binders (P >= 0.5, mid included) by log10 IC50, then non-binders by P: decoy (0.3)
    # before weak (0.1), although weak's affinity value is the lowest of all.
    "affinity": [
        ("potent", 1), ("strong", 2), ("strong-too", 2), ("tie", 3), ("mid", 4),
        ("decoy", 5), ("weak", 6), ("broken", 7),
    ],
    "confidence": [
        ("weak", 1), ("mid", 2), ("potent", 3), ("strong", 4), ("strong-too", 4), ("tie", 5),
        ("decoy", 6), ("broken", 7),
    ],
}  # fmt: skip
# report.top_n = 5 best compounds over both proteins (P2's scores: see P2_SCORES).
EXPECTED_BEST = {
    "binder_probability": [("P1", "strong"), ("P1", "tie"), ("P2", "weak"), ("P1", "potent"),
                           ("P1", "mid")],
    "affinity": [("P1", "potent"), ("P1", "strong"), ("P1", "tie"), ("P2", "weak"),
                 ("P1", "mid")],
    "confidence": [("P2", "strong"), ("P1", "weak"), ("P1", "mid"), ("P1", "potent"),
                   ("P1", "strong")],
}  # fmt: skip


@pytest.mark.parametrize("rank_by", EXPECTED_P1)
def test_each_ranking_rule_gives_its_exact_order(tmp_path, rank_by):
    plan, manifests = make_screen(tmp_path, rank_by=rank_by)
    table = ranked(plan, manifests)
    assert order(table, "P1") == EXPECTED_P1[rank_by]
    assert list(table["protein"]) == ["P1"] * 8 + ["P2"] * 8
    document = summary(plan, table, read_manifests(manifests)[1]).to_json()
    assert document["ranking"]["rank_by"] == rank_by
    best = [(t["protein"], t["ligand_name"]) for t in document["best_targets"]]
    assert best == EXPECTED_BEST[rank_by]


def test_rows_gathered_in_several_batches_give_the_same_table(screen, monkeypatch):
    # A large screen's rows are made into column chunks BATCH_ROWS at a time, across shards
    # and within them: the table is the one that a single batch gives.
    plan, manifests = screen
    whole = ranked(plan, manifests)
    monkeypatch.setattr(aggregate, "BATCH_ROWS", 3)
    rows = read_manifests(manifests)[0]
    assert len(rows._chunks["key"]) > 1
    pd.testing.assert_frame_equal(results_table(plan, rows), whole, check_exact=True)


def test_ranking_keeps_duplicates_together_and_failed_last(screen):
    plan, manifests = screen
    table = ranked(plan, manifests)
    p1 = table[table["protein"] == "P1"].reset_index(drop=True)
    # One compound under two names: one prediction, one rank, each row its own sheet columns.
    assert list(p1.loc[:1, "series"]) == ["B", "D"] and p1.loc[0, "key"] == p1.loc[1, "key"]
    assert p1.loc[7, "status"] == "failed" and p1.loc[7, "error"]
    # P2: weak (0.8), then the compounds at 0.2 in sheet order.
    assert order(table, "P2")[:4] == [("weak", 1), ("strong", 2), ("strong-too", 2), ("mid", 3)]


def test_csv_has_both_heads_and_omits_constant_fields(screen, tmp_path):
    plan, manifests = screen
    csv_path, summary_path = tmp_path / "batch_results.csv", tmp_path / "summary.json"
    write_results(
        plan, manifests, csv_path, summary_path, parquet_path=tmp_path / "batch_results.parquet"
    )
    table = pd.read_csv(csv_path)
    assert len(table) == 16
    heads = [
        "affinity_pred_value",
        "affinity_probability_binary",
        "affinity_pred_value1",
        "affinity_probability_binary1",
        "affinity_pred_value2",
        "affinity_probability_binary2",
    ]
    columns = list(table.columns)
    assert columns[columns.index("affinity_pred_value") :][:6] == heads
    strong = table[(table["protein"] == "P1") & (table["ligand_name"] == "strong")].iloc[0]
    assert strong["affinity_pred_value1"] == pytest.approx(-2.1)
    assert strong["affinity_pred_value2"] == pytest.approx(-1.9)
    assert strong["affinity_probability_binary1"] == pytest.approx(0.85)
    # One protein chain: Boltz's protein_iptm is 0 by construction, so it is left out.
    assert "protein_iptm" not in columns and {"iptm", "ligand_iptm", "series"} <= set(columns)
    document = json.loads(summary_path.read_text())
    for protein in ("P1", "P2"):
        entry = document["per_protein"][protein]
        assert entry["chains"] == {"protein": 1, "ligand": 1}
        assert list(entry["not_applicable"]) == ["protein_iptm"]
        assert "protein chain" in entry["not_applicable"]["protein_iptm"]
        assert "protein_iptm" not in entry["statistics"]
    assert document["software"]["boltz"] == "2.2.1"
    assert document["parameters"]["model"]["sampling_steps"] == 200
    assert document["key_scheme"] == 2


def test_a_field_not_applicable_to_one_protein_is_emptied_there_only():
    table = pd.DataFrame({"protein": ["P1", "P2"], "protein_iptm": [0.0, 0.7], "iptm": [0.3, 0.4]})
    reason = {"protein_iptm": "0 by construction"}
    mixed = without_not_applicable(table, {"P1": reason, "P2": {}})
    assert math.isnan(mixed.loc[0, "protein_iptm"]) and mixed.loc[1, "protein_iptm"] == 0.7
    assert list(without_not_applicable(table, {"P1": reason, "P2": reason})) == ["protein", "iptm"]


def test_statistics_are_per_protein_over_distinct_compounds(screen):
    plan, manifests = screen
    records, shards = read_manifests(manifests)
    document = summary(plan, ranked(plan, manifests), shards).to_json()
    p1, p2 = document["per_protein"]["P1"], document["per_protein"]["P2"]
    # strong and strong-too are one compound; broken failed; P >= 0.5: strong, mid, tie, potent.
    assert p1["counts"] == {
        "sheet_rows": 8,
        "compounds": 7,
        "completed": 6,
        "failed": 1,
        "pending": 0,
        "binders": 4,
    }
    assert p2["counts"]["binders"] == 1
    assert document["overall"] == {
        "compounds": 14,
        "completed": 12,
        "failed": 2,
        "pending": 0,
        "binders": 5,
    }
    # Binder probability over the six completed compounds (CCN once, not twice).
    probability = p1["statistics"]["affinity_probability_binary"]
    assert probability["over"] == "completed_compounds" and probability["count"] == 6
    assert probability["mean"] == pytest.approx((0.1 + 0.9 + 0.5 + 0.9 + 0.7 + 0.3) / 6)
    assert probability["median"] == pytest.approx(0.6)
    assert p1["statistics"]["confidence_score"]["max"] == 0.9  # weak: a non-binder counts here
    # Affinity over the four binders only: log10 IC50 -2, 2, -2, -4 (weak's -6 and decoy's
    # -5 are not binders).
    value = p1["statistics"]["affinity_pred_value"]
    assert value == {
        "over": "predicted_binders",
        "count": 4,
        "mean": -1.5,
        "median": -2.0,
        "min": -4.0,
        "max": 2.0,
    }
    pic50 = p1["statistics"]["pic50"]
    assert (pic50["mean"], pic50["median"]) == (pytest.approx(7.5), pytest.approx(8.0))
    ic50 = p1["statistics"]["ic50_um"]
    assert "mean" not in ic50  # its arithmetic mean would be 25.0 µM, set by mid alone
    assert ic50["median"] == pytest.approx(0.01)
    assert ic50["geometric_mean"] == pytest.approx(10**-1.5)
    assert (ic50["min"], ic50["max"]) == (pytest.approx(1e-4), pytest.approx(100.0))
    assert p1["statistics"]["affinity_pred_value1"]["mean"] == pytest.approx(-1.6)
    # P2 alone: its one binder, not the pool of both proteins.
    assert p2["statistics"]["affinity_pred_value"]["count"] == 1
    assert p2["statistics"]["affinity_pred_value"]["mean"] == 1.0
    every_field = set(OVER_COMPLETED) | set(OVER_BINDERS)
    assert every_field == set(SCORE_FIELDS)
    assert "statistics" not in document  # nothing pooled over proteins


def test_the_median_ic50_of_an_even_count_is_the_ic50_of_the_median_pic50(tmp_path):
    # Two binders at 0.01 and 1 µM: the median pIC50 is 7, so the median IC50 is 0.1 µM, not
    # the arithmetic middle of the two IC50s (0.505 µM).
    rows = [("potent", "CCO", "A"), ("moderate", "CCN", "B"), ("decoy", "CCC", "C")]
    raw = write_screen(
        tmp_path,
        rows=rows,
        extra_columns="series",
        proteins=[{"name": "P1", "sequence": SHORT_PROTEIN}],
    )
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    scores = {"CCO": (0.9, -2.0, 0.5), "CCN": (0.8, 0.0, 0.5), "CCC": (0.1, 3.0, 0.5)}
    manifests = fake_manifests(plan, tmp_path, scores_of={"P1": scores})
    records, shards = read_manifests(manifests)
    statistics = summary(plan, ranked(plan, manifests), shards).per_protein["P1"].statistics
    assert statistics["pic50"].median == pytest.approx(7.0)
    assert statistics["affinity_pred_value"].median == pytest.approx(-1.0)
    assert statistics["ic50_um"].median == pytest.approx(10 ** (-statistics["pic50"].median + 6))
    assert statistics["ic50_um"].median == pytest.approx(0.1)
    assert statistics["ic50_um"].geometric_mean == pytest.approx(0.1)


def test_top_lists_are_per_protein_and_affinity_only_among_binders(screen):
    plan, manifests = screen
    records, shards = read_manifests(manifests)
    p1 = summary(plan, ranked(plan, manifests), shards).to_json()["per_protein"]["P1"]
    names = {key: [t["ligand_name"] for t in p1[key]] for key in p1 if key.startswith("top_")}
    assert names == {
        "top_by_binder_probability": ["strong", "tie", "potent", "mid", "decoy"],
        "top_by_affinity": ["potent", "strong", "tie", "mid"],
        "top_by_confidence": ["weak", "mid", "potent", "strong", "tie"],
    }
    strong = p1["top_by_binder_probability"][0]
    assert strong["also_named"] == ["strong-too"] and strong["rank"] == 1
    assert all(t["protein"] == "P1" for t in p1["top_by_affinity"])


def test_sheet_columns_named_like_results_are_prefixed(tmp_path):
    raw = write_screen(tmp_path, rows=[("a", "CCO", "x")], extra_columns="status")
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    manifests = fake_manifests(plan, tmp_path, scores_of={"P1": {"CCO": (0.5, 0.0, 0.5)}})
    table = results_table(plan, read_manifests(manifests)[0])
    assert table.loc[0, "status"] == "completed" and table.loc[0, "sheet_status"] == "x"


def test_every_sheet_column_named_like_a_result_column_gets_the_prefix_once(tmp_path):
    """The sheet's `status`, `rank`, `ligand_name`, `error` and `key` are written beside the
    results' own, prefixed; every column of batch_results.csv has a name of its own."""
    own = ["status", "rank", "ligand_name", "error", "key", "sheet_note"]
    raw = write_screen(tmp_path, rows=[("a", "CCO", *own)], extra_columns=",".join(own))
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    manifests = fake_manifests(plan, tmp_path, scores_of={"P1": {"CCO": (0.5, 0.0, 0.5)}})
    write_results(
        plan,
        manifests,
        tmp_path / "batch_results.csv",
        tmp_path / "summary.json",
        parquet_path=tmp_path / "batch_results.parquet",
    )
    with open(tmp_path / "batch_results.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert len(header) == len(set(header))
    row = pd.read_csv(tmp_path / "batch_results.csv").iloc[0]
    assert row["status"] == "completed" and row["ligand_name"] == "a"
    for column in own[:-1]:
        assert row[f"sheet_{column}"] == column
    assert row["sheet_note"] == "sheet_note"  # no result column has that name: kept as it is


# Text a spreadsheet would take for a formula, as names and as an extra column's cells.
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "-rf", "'=quoted", "-"]
NUMBERS = ["-5.2", "+3", "1e-3", "-0.5", "-7", ".5", "-1E+2"]


def test_text_a_spreadsheet_would_run_is_written_as_text_and_read_back_as_it_was(tmp_path):
    """OWASP's rule in batch_results.csv and selectivity.csv: a text cell starting with '=',
    '+', '-', '@', a tab or a carriage return gets a "'" before it (one more where it starts
    with quotes and then one of those); numbers stay numbers. The dashboard's reader takes
    the quote off again."""
    smiles = ["CCO", "CCN", "CCC", "CCCl", "c1ccccc1", "CCCBr", "c1ccncc1"]
    rows = [*zip(FORMULAS, smiles, NUMBERS, strict=True)]
    rows += [
        (f"n{i}", s, formula) for i, (s, formula) in enumerate(zip(smiles, FORMULAS, strict=True))
    ]
    plan = make_plan(
        tmp_path, rows, proteins=2, selectivity={"target": "P1", "anti_targets": ["P2"]}
    )
    layout = ScreenLayout(synthetic_screen(plan, tmp_path / "results"))
    with open(layout.table, newline="") as handle:
        written = list(csv.DictReader(handle))
    names = {row["ligand_name"] for row in written}
    assert names >= {"'" + formula for formula in FORMULAS}
    assert {row["series"] for row in written} >= {*NUMBERS, *("'" + f for f in FORMULAS)}
    with open(layout.selectivity, newline="") as handle:
        assert {row["ligand_name"] for row in csv.DictReader(handle)} >= {"'" + f for f in FORMULAS}
    # The dashboard's readers give back what the sheet held.
    table = read_table(layout.table)
    assert set(table["ligand_name"]) == {*FORMULAS, *(f"n{i}" for i in range(len(FORMULAS)))}
    assert set(table["series"].astype(str)) >= {*FORMULAS}
    assert set(read_selectivity(layout.selectivity)["ligand_name"]) >= set(FORMULAS)


@pytest.mark.parametrize(
    "screen",
    [
        {},
        {"proteins": 2, "model": {"replicates": 2, "seed": 1}},
        {"proteins": 2, "selectivity": {"target": "P1", "anti_targets": ["P2"]}},
    ],
    ids=["one-protein", "replicates", "selectivity-panel"],
)
def test_parquet_holds_the_csv_values_typed_and_text_as_typed(tmp_path, screen):
    """batch_results.parquet: the CSV's columns in its order, of the declared types, with the
    same values (failed rows' empty scores missing in both), and formula text as the sheet
    has it where the CSV neutralises it."""
    smiles = ["CCO", "CCN", "CCC", "CCCl", "c1ccccc1", "CCCBr", "c1ccncc1"]
    rows = [*zip(FORMULAS, smiles, NUMBERS, strict=True)]
    rows += [(f"n{i}", s, "") for i, s in enumerate(smiles)]
    plan = make_plan(tmp_path, rows, **screen)
    # Every 7th target fails: each protein's (and replicate's) last compound, with both names.
    screen_dir = synthetic_screen(plan, tmp_path / "results", failed_every=len(smiles))
    parquet = assert_parquet_is_the_csv(screen_dir)
    failed = parquet[parquet["status"] == "failed"]
    scores = [field for field in SCORE_FIELDS if field in parquet.columns]
    assert len(failed) and failed[scores].isna().all().all() and failed["error"].notna().all()
    assert parquet[parquet["status"] == "completed"]["affinity_pred_value"].notna().all()
    assert set(parquet["ligand_name"]) >= set(FORMULAS)
    assert set(parquet["series"].dropna()) == set(NUMBERS)  # text as in the sheet
    assert parquet["series"].isna().sum() == len(parquet) // 2  # empty cells missing
    with open(ScreenLayout(screen_dir).table, newline="") as handle:
        written = {row["ligand_name"] for row in csv.DictReader(handle)}
    assert written >= {"'" + formula for formula in FORMULAS} and not written & set(FORMULAS)
    if "model" in screen:
        assert str(parquet["replicates"].dtype) == "Int64"
        assert parquet["affinity_pred_value_std"].notna().any()


def loading_examples() -> list[str]:
    """The Python examples of docs/results.md's section on batch_results.parquet."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "results.md").read_text()
    section = text.split("## `batch_results.parquet`", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_loading_examples_in_results_md_run(tmp_path):
    """docs/results.md's pandas, polars and DuckDB examples, each where its library is
    installed (pandas always), on a finished screen of the name they use: each prints hits.
    Each runs in a process of its own (importing polars sets an environment variable)."""
    examples = {re.match(r"import (\w+)", code).group(1): code for code in loading_examples()}
    assert list(examples) == ["pandas", "polars", "duckdb"]
    rows = [(name, smiles, "x") for name, smiles, _ in ROWS]
    synthetic_screen(make_plan(tmp_path, rows, screen="kinase-demo"), tmp_path / "results")
    installed = [name for name in examples if importlib.util.find_spec(name) is not None]
    assert "pandas" in installed
    for name in installed:
        printed = subprocess.run(
            [sys.executable, "-c", examples[name]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,  # hang protection
        ).stdout
        assert "ligand_name" in printed and any(row[0] in printed for row in rows), printed


@given(st.one_of(st.text(), st.from_regex(r"\A'*[=+\-@\t\r0-9.eE]+.*", fullmatch=True)))
def test_neutralising_formula_text_is_undone_exactly(text):
    written = neutralise_formula_text(text)
    assert restore_formula_text(written) == text
    assert written in (text, "'" + text)
    # What a spreadsheet would run is written as text, unless it is a plain number.
    number = re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text)
    assert not re.match(r"[=+\-@\t\r]", written) or number


def test_written_summary_keeps_counts_parameters_and_software(screen, tmp_path):
    plan, manifests = screen
    csv_path, summary_path = tmp_path / "batch_results.csv", tmp_path / "summary.json"
    write_results(
        plan, manifests, csv_path, summary_path, parquet_path=tmp_path / "batch_results.parquet"
    )
    document = json.loads(summary_path.read_text())
    assert document["counts"]["rows"] == 16
    assert document["counts"]["completed"] == 14 and document["counts"]["failed"] == 2
    assert document["counts"]["distinct_compounds"] == 7
    assert document["ranking"] == {
        "rank_by": "binder_probability",
        "rule": "by binder probability (highest first); equal values by sheet row; failed "
        "and pending targets last, in sheet order",
        "binder_threshold": 0.5,
    }
    assert document["software"]["boltz"] == "2.2.1"
    assert document["parameters"]["model"]["sampling_steps"] == 200
    assert document["released_weights"] is True and "warning" not in document


def test_summary_flags_weights_that_are_not_released(screen):
    plan, manifests = screen
    plan.weights = plan.weights.model_copy(
        update={"released": False, "note": "random test weights"}
    )
    records, shards = read_manifests(manifests)
    document = summary(plan, results_table(plan, records), shards).to_json()
    assert document["released_weights"] is False
    assert "NOT PREDICTIONS" in document["warning"]


def test_binder_threshold_decides_which_compounds_the_affinity_statistics_cover(tmp_path):
    plan, manifests = make_screen(tmp_path, binder_threshold=0.8)
    records, shards = read_manifests(manifests)
    p1 = summary(plan, ranked(plan, manifests), shards).to_json()["per_protein"]["P1"]
    assert p1["counts"]["binders"] == 2  # strong and tie (0.9)
    assert p1["statistics"]["affinity_pred_value"]["mean"] == -2.0
    assert [t["ligand_name"] for t in p1["top_by_affinity"]] == ["strong", "tie"]


def test_rows_carry_the_sheet_and_the_modelled_molecule_and_summary_counts_flags(tmp_path):
    rows = [
        ("acid", "CC(=O)O", "A"),
        ("acetate Na", "CC(=O)[O-].[Na+]", "B"),
        ("racemic", "CC(F)c1ccccc1", "C"),
        ("rac-CX", "C[C@H](F)c1ccccc1 |&1:1|", "D"),
        ("large", "C" * 60, "E"),
    ]
    raw = write_screen(tmp_path, rows=rows, extra_columns="series")
    raw["proteins"].append({"name": "P2", "sequence": "GGGGS", "msa": "empty"})
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    scores_of: dict[str, dict] = {}
    for (protein, _), content in plan.shards.items():
        for target in content.targets:
            scores_of.setdefault(protein, {})[target.smiles] = (0.5, 0.0, 0.5)
    records, shards = read_manifests(fake_manifests(plan, tmp_path, scores_of=scores_of))
    table = results_table(plan, records)
    salt = table[(table["ligand_name"] == "acetate Na") & (table["protein"] == "P1")].iloc[0]
    acid = table[(table["ligand_name"] == "acid") & (table["protein"] == "P1")].iloc[0]
    # One target, two rows: each row keeps what the sheet said and shows what was modelled.
    assert salt["key"] == acid["key"]
    assert (salt["smiles"], salt["canonical_smiles"]) == ("CC(=O)[O-].[Na+]", "CC(=O)[O-].[Na+]")
    assert (salt["modeled_smiles"], acid["modeled_smiles"]) == ("CC(=O)O", "CC(=O)O")
    assert salt["standardisation"] == "counter-ion removed: sodium; neutralised"
    assert acid["standardisation"] == ""
    # The ligand's flags, then its protein's: the test screen is single-sequence (no-msa).
    flags = dict(zip(table["ligand_name"], table["flags"], strict=False))
    assert flags == {
        "acid": "no-msa",
        "acetate Na": "no-msa",
        "racemic": "undefined-stereo;no-msa",
        "rac-CX": "enhanced-stereo;no-msa",
        "large": "heavy-atoms>56;no-msa",
    }
    document = summary(plan, table, shards).to_json()
    assert document["counts"]["standardised"] == 1
    assert document["counts"]["distinct_compounds"] == 4
    assert document["flags"] == {
        "enhanced-stereo": {"rows": 2, "ligands": 1},
        "heavy-atoms>56": {"rows": 2, "ligands": 1},
        "no-msa": {"rows": 10, "ligands": 5},
        "undefined-stereo": {"rows": 2, "ligands": 1},
    }
    assert list(table.columns[5:10]) == [
        "smiles",
        "canonical_smiles",
        "modeled_smiles",
        "standardisation",
        "flags",
    ]


@pytest.mark.parametrize("affinity", [True, False])
def test_affinity_with_a_cofactor_in_the_receptor_is_flagged_on_its_rows(tmp_path, affinity):
    # Boltz's docs/prediction.md: with a co-factor target "the output will be unreliable".
    proteins = [
        {"name": "P1", "sequence": SHORT_PROTEIN, "msa": "empty"},
        {
            "name": "P2",
            "sequence": SHORT_PROTEIN,
            "msa": "empty",
            "cofactors": [{"smiles": "[Mg+2]"}],
        },
    ]
    raw = write_screen(
        tmp_path, rows=[("a", "CCO"), ("b", "CCN")], proteins=proteins, model={"affinity": affinity}
    )
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    scores = {"CCO": (0.5, 0.0, 0.5), "CCN": (0.5, 0.0, 0.5)}
    records, shards = read_manifests(
        fake_manifests(plan, tmp_path, scores_of={"P1": scores, "P2": scores})
    )
    table = results_table(plan, records)
    flags = table.groupby("protein")["flags"].unique().map(list).to_dict()
    if affinity:
        assert flags == {"P1": ["no-msa"], "P2": ["no-msa;cofactor-affinity"]}
        document = summary(plan, table, shards).to_json()
        assert document["flags"]["cofactor-affinity"] == {"rows": 2, "ligands": 2}
        assert "unreliable" in FLAG_MEANINGS["cofactor-affinity"]
    else:  # structure only: no affinity to be unreliable
        assert flags == {"P1": ["no-msa"], "P2": ["no-msa"]}


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
    scores_of = {protein: {"CCO": (0.5, 0.0, 0.5)} for protein in ("P1", "P2", "P3")}
    manifests = fake_manifests(plan, tmp_path, scores_of=scores_of)
    records, shards = read_manifests(manifests)
    table = results_table(plan, records).set_index("protein")
    assert table.loc["P1", "msa"] == "single-sequence" and table.loc["P1", "flags"] == "no-msa"
    assert table.loc["P2", "msa"] == "server" and table.loc["P2", "flags"] == ""
    assert table.loc["P3", "msa"] == "file" and table.loc["P3", "flags"] == ""
    proteins = {
        p["name"]: p for p in summary(plan, table.reset_index(), shards).to_json()["proteins"]
    }
    assert proteins["P1"]["msa"] == "single-sequence"
    assert proteins["P1"]["warning"].startswith("no MSA: reduced accuracy")
    assert proteins["P2"]["msa_sha256"] == hashlib.sha256(msa).hexdigest()
    assert proteins["P2"]["msa_source"].startswith(runtime.msa_server_url)
    assert proteins["P3"]["msa_source"] == str(a3m)
    assert proteins["P3"]["msa_sha256"] == hashlib.sha256(a3m.read_bytes()).hexdigest()
    assert "warning" not in proteins["P2"] and "warning" not in proteins["P3"]
