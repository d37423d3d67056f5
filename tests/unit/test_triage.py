"""Triage rules (omtx_hub.config.Triage, omtx_hub.triage): the rule syntax, each rule on rows
of our own, config errors at planning, `rank_within: triage`, purchase_list.csv, and keys
that do not depend on triage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from omtx_hub.aggregate import read_manifests, results_table, write_results
from omtx_hub.config import ConfigError, Triage, load_config, parse_interaction_rule
from omtx_hub.plan import build_plan
from omtx_hub.pose_checks import TRIAGE_CHECKS_VERSION
from omtx_hub.result_tables import INTERACTION_TABLE_COLUMNS
from omtx_hub.store import LocalStore
from omtx_hub.triage import parse_interactions, purchase_list, triage_verdicts
from tests.screens import write_screen
from tests.unit.test_aggregate import P1_SCORES, P2_SCORES, fake_manifests

ROW = {
    "status": "completed",
    "alerts": "",
    "mw": 320.0,
    "clogp": 2.5,
    "tpsa": 80.0,
    "posebusters_pass": True,
    "interactions": "A:MET318:hbond-donor;A:LYS271:ionic",
}


def write_every_output(plan, manifests, out):
    """`out` with every file write_results makes (CSV, summary, Parquet, purchase list,
    interactions.csv)."""
    out.mkdir()
    write_results(
        plan,
        manifests,
        out / "batch_results.csv",
        out / "summary.json",
        parquet_path=out / "batch_results.parquet",
        purchase_list_path=out / "purchase_list.csv",
        interactions_path=out / "interactions.csv",
    )
    return out


def verdicts(rows: list[dict], **rules) -> list[str]:
    return list(triage_verdicts(pd.DataFrame([{**ROW, **row} for row in rows]), Triage(**rules)))


def test_interactions_cells_parse_and_bad_parts_are_named():
    assert parse_interactions("A:MET318:hbond-donor;A:lys271:Ionic") == [
        ("A", "MET318", "hbond-donor"),
        ("A", "LYS271", "ionic"),
    ]
    assert parse_interactions("") == [] and parse_interactions(None) == []
    with pytest.raises(ValueError, match="interaction 'A:MET318' of 'A:MET318' is not chain"):
        parse_interactions("A:MET318")


def test_rules_parse_in_both_forms():
    assert parse_interaction_rule("A:MET318 hbond") == parse_interaction_rule("A:met318:hbond")
    rule = parse_interaction_rule("B:GLU286")
    assert (rule.chain, rule.residue, rule.kind) == ("B", "GLU286", None)
    with pytest.raises(ValueError, match="write CHAIN:RESIDUE TYPE"):
        parse_interaction_rule("MET318 hbond")


def test_a_required_interaction_matches_its_directed_forms_and_any_contact():
    made, missed = {}, {"interactions": "A:LYS271:ionic"}
    assert verdicts([made, missed], require_interactions=["A:MET318 hbond"]) == [
        "pass",
        "interaction A:MET318 hbond",
    ]
    assert verdicts([made], require_interactions=["A:MET318 ionic"]) == [
        "interaction A:MET318 ionic"
    ]
    assert verdicts([made], require_interactions=["A:LYS271"]) == ["pass"]
    # Another chain's residue of the same number is another residue.
    assert verdicts([made], require_interactions=["B:MET318"]) == ["interaction B:MET318"]


def test_posebusters_alerts_and_windows_each_name_what_failed():
    rows = [
        {},
        {"posebusters_pass": False},
        {"alerts": "PAINS_B:anil_di_alk_A(478);Brenk:Michael_acceptor_1"},
        {"alerts": "NIH:rhodanine"},
        {"mw": 512.25, "clogp": 5.0},
    ]
    rules = {
        "require_posebusters": True,
        "exclude_alerts": ["PAINS", "Brenk"],
        "properties": {"MW": [None, 500], "cLogP": [None, 5]},
    }
    assert verdicts(rows, **rules) == [
        "pass",
        "posebusters",
        "alert PAINS_B; alert Brenk",
        "pass",  # NIH is not excluded
        "mw 512.25 outside [-, 500]",  # the window is inclusive: cLogP 5 passes
    ]


def test_rows_triage_could_not_check_do_not_pass():
    rows = [
        {"status": "failed"},
        {"mw": None, "alerts": None},  # a CCD ligand: no chemistry
        {"posebusters_pass": None},
    ]
    assert verdicts(
        rows, require_posebusters=True, exclude_alerts=["NIH"], properties={"mw": [100, None]}
    ) == ["not completed (failed)", "no alerts; no mw", "no posebusters_pass"]


def test_cells_are_read_as_parse_interactions_reads_them_on_every_row_at_once():
    # Residue and type in any case, empty parts skipped, a type's prefix only before a `-`;
    # a malformed cell of a completed row is named, one of a row not completed is not read.
    rows = [
        {"interactions": ";A:met318:HBOND-donor;"},
        {"interactions": "A:MET318:hbondx;A:MET3181:hbond"},
        {"interactions": None},
        {"interactions": "A:MET318", "status": "failed"},
    ]
    assert verdicts(rows, require_interactions=["A:MET318 hbond"]) == [
        "pass",
        "interaction A:MET318 hbond",
        "interaction A:MET318 hbond",
        "not completed (failed)",
    ]
    with pytest.raises(ValueError, match="interaction 'A:MET318' of 'x:y:z;A:MET318' is not"):
        verdicts([{"interactions": "x:y:z;A:MET318"}], require_interactions=["A:MET318"])


def test_alerts_without_properties_computed_are_not_alerts_passed():
    table = pd.DataFrame([{"status": "completed", "alerts": ""}])
    assert list(triage_verdicts(table, Triage(exclude_alerts=["NIH"]))) == ["no alerts"]


def test_a_rule_on_a_column_the_table_lacks_names_its_key():
    table = pd.DataFrame([{"status": "completed"}])
    with pytest.raises(KeyError, match="'triage.properties.tpsa': the results have no `tpsa`"):
        triage_verdicts(table, Triage(properties={"TPSA": [None, 140]}))


@pytest.mark.parametrize(
    ("triage", "message"),
    [
        (
            {"properties": {"logP": [None, 5]}},
            "'triage.properties.logP': no such property; use one of mw,",
        ),
        ({"properties": {"MW": [500, 100]}}, "the window [500.0, 100.0] is empty"),
        ({"require_interactions": ["MET318"]}, "'MET318' is no interaction rule"),
        ({"exclude_alerts": ["Pains"]}, "triage.exclude_alerts"),
    ],
)
def test_config_errors_name_the_key(tmp_path, triage, message):
    raw = write_screen(tmp_path, triage=triage)
    with pytest.raises(ConfigError) as error:
        load_config(raw)
    assert message in str(error.value)


ROWS = [
    ("weak", "CCO"),
    ("strong", "CCN"),
    ("broken", "CCC"),
    ("mid", "c1ccccc1"),
    ("tie", "CCCl"),
    ("potent", "c1ccncc1"),
    ("decoy", "CCCBr"),
    # A Brenk Michael acceptor, not scored on either protein.
    ("acrylamide", "C=CC(=O)Nc1ccccc1"),
]
TRIAGE = {"exclude_alerts": ["Brenk"], "properties": {"MW": [50, None]}, "purchase_top_k": 2}


def screen(tmp_path, **triage):
    proteins = [
        {"name": "P1", "sequence": "MKTAYIAKQRQISFVKSHFSRQLE", "msa": "empty"},
        {"name": "P2", "sequence": "MKTAYIAKQRQISFVKSHFSRQ", "msa": "empty"},
    ]
    raw = write_screen(
        tmp_path, rows=ROWS, shard_size=4, proteins=proteins, triage={**TRIAGE, **triage}
    )
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    scores = {
        "P1": {**P1_SCORES, "C=CC(=O)Nc1ccccc1": (0.95, -3.0, 0.9)},
        "P2": {**P2_SCORES, "C=CC(=O)Nc1ccccc1": (0.95, -3.0, 0.9)},
    }
    return plan, fake_manifests(plan, tmp_path, failed={"CCC"}, scores_of=scores)


def with_pose_checks(manifests, checks_of: dict[str, dict]) -> None:
    """Give the manifests' completed records pose checks (ManifestEntry.triage), as the shard
    job does: checks_of[ligand SMILES] = PoseTriage's fields."""
    for path in manifests:
        manifest = json.loads(Path(path).read_text())
        for record in manifest["records"]:
            if record["status"] == "completed" and record["smiles"] in checks_of:
                record["triage"] = {"version": TRIAGE_CHECKS_VERSION, **checks_of[record["smiles"]]}
        Path(path).write_text(json.dumps(manifest))


def hbond(residue: str, number: int) -> dict:
    return {
        "chain": "A",
        "residue": residue,
        "number": number,
        "type": "hbond-donor",
        "ligand_atoms": ["N1"],
        "distance": 2.9,
    }


def test_pose_rules_are_accepted_and_judge_the_pose_checks_columns(tmp_path):
    """With the pose checks merged, `require_posebusters` and `require_interactions` are
    computed columns (records.RESULT_COLUMNS): the config takes them, and the rows' verdicts
    come from each target's checks as the results table joins them."""
    plan, manifests = screen(
        tmp_path,
        exclude_alerts=[],
        properties={},
        require_posebusters=True,
        require_interactions=["A:MET318 hbond"],
    )
    hinge = hbond("MET", 318)
    with_pose_checks(
        manifests,
        {
            "CCN": {"posebusters_pass": True, "interactions": [hinge]},  # strong
            "c1ccccc1": {"posebusters_pass": True, "interactions": [hbond("LYS", 271)]},  # mid
            "CCCBr": {"posebusters_pass": False, "posebusters_failed": ["bond_lengths"]},
            "CCCl": {"error": "ligand atoms are not Boltz's names"},  # tie
        },
    )
    table = results_table(plan, read_manifests(manifests)[0])
    by_name = table[table["protein"] == "P1"].set_index("ligand_name")
    assert by_name.loc["strong", "interactions"] == "A:MET318:hbond-donor"
    assert by_name.loc["strong", "triage"] == "pass"
    assert by_name.loc["decoy", ["posebusters_pass", "posebusters_failed"]].tolist() == [
        False,
        "bond_lengths",
    ]
    assert by_name.loc["decoy", "triage"] == "posebusters; interaction A:MET318 hbond"
    assert by_name.loc["mid", "triage"] == "interaction A:MET318 hbond"
    # Never checked (no checks in its record) or checks that could not run: not passed.
    unchecked = "no posebusters_pass; interaction A:MET318 hbond"
    assert by_name.loc["weak", "triage"] == by_name.loc["tie", "triage"] == unchecked
    assert by_name.loc["tie", "pose_checks_error"] == "ligand atoms are not Boltz's names"
    # interactions.csv: every interaction of every checked pose, written a shard at a time.
    out = write_every_output(plan, manifests, tmp_path / "out")
    found = pd.read_csv(out / "interactions.csv")
    assert list(found.columns) == INTERACTION_TABLE_COLUMNS
    assert sorted(zip(found["protein"], found["ligand_id"], found["residue"], strict=True)) == [
        (protein, ligand_id, residue)
        for protein in ("P1", "P2")
        for ligand_id, residue in sorted([("strong", "MET"), ("mid", "LYS")])
    ]
    assert set(found["ligand_atoms"]) == {"N1"} and set(found["type"]) == {"hbond-donor"}
    assert by_name.loc["broken", "triage"] == "not completed (failed)"


def names(table, protein):
    return list(table.loc[table["protein"] == protein, "ligand_name"])


def test_triage_column_and_rank_within_triage_keep_every_row(tmp_path):
    plan, manifests = screen(tmp_path)
    records = read_manifests(manifests)[0]
    table = results_table(plan, records)
    by_name = table[table["protein"] == "P1"].set_index("ligand_name")
    assert by_name.loc["acrylamide", "triage"] == "alert Brenk"
    assert "Brenk:Michael_acceptor_1" in by_name.loc["acrylamide", "alerts"]
    # Ethanol (46 g/mol) is below the MW window, an alkyl halide is a Brenk alert; the failed
    # target was never checked.
    assert by_name.loc["weak", "triage"] == "mw 46.069 outside [50, -]"
    assert by_name.loc["tie", "triage"] == "alert Brenk"
    assert by_name.loc["broken", "triage"] == "not completed (failed)"
    assert by_name.loc["potent", "triage"] == by_name.loc["mid", "triage"] == "pass"
    # rank_within: all (the default): the acrylamide, P1's most likely binder, ranks first.
    assert names(table, "P1")[0] == "acrylamide"
    (tmp_path / "t").mkdir()
    plan, _ = screen(tmp_path / "t", rank_within="triage")
    # (The rows' builder is spent by a table: read the manifests again.)
    triaged = results_table(plan, read_manifests(manifests)[0])
    assert len(triaged) == len(table) == 2 * len(ROWS)
    # Those that pass by binder probability, then the other completed ones, then the failed.
    assert names(triaged, "P1") == [
        *["potent", "mid"],
        *["acrylamide", "strong", "tie", "decoy", "weak"],
        "broken",
    ]
    assert list(triaged.loc[triaged["protein"] == "P1", "rank"]) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_purchase_list_holds_the_best_passing_per_protein(tmp_path):
    plan, manifests = screen(tmp_path, rank_within="triage")
    layout = write_every_output(plan, manifests, tmp_path / "out")
    bought = pd.read_csv(layout / "purchase_list.csv")
    assert list(zip(bought["protein"], bought["ligand_name"], strict=True)) == [
        ("P1", "potent"),
        ("P1", "mid"),
        ("P2", "mid"),  # P2: weak (0.8) is below the MW window; these tie at 0.2: sheet order
        ("P2", "potent"),
    ]
    assert set(bought["triage"]) == {"pass"}
    assert {"smiles", "affinity_probability_binary", "structure", "alerts"} <= set(bought)
    best = purchase_list(pd.read_csv(layout / "batch_results.csv"), 1)
    assert best["ligand_name"].tolist() == ["potent", "mid"]


def test_no_key_depends_on_triage(tmp_path):
    plain = write_screen(tmp_path)
    with_triage = write_screen(tmp_path, triage={**TRIAGE, "rank_within": "triage"})
    keys = []
    for raw in (plain, with_triage):
        config = load_config(raw)
        plan = build_plan(config, LocalStore(config.store))
        keys.append([t.key for shard in plan.shards.values() for t in shard.targets])
    assert keys[0] == keys[1]
