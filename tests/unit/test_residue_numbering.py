"""A protein's own residue numbering (`proteins[].residue_numbering`): the residues a config
names in it reach Boltz as the same residues (same keys, same Boltz input), bad numberings
are refused naming the key, and the interactions are shown in it (the `interactions` column
that triage rules and the dashboard read, interactions.csv) while the store keeps Boltz's."""

from __future__ import annotations

import pandas as pd
import pytest

from omtx_hub.aggregate import protein_entry, read_manifests, results_table
from omtx_hub.boltz_schema import input_document
from omtx_hub.config import ConfigError, load_config
from omtx_hub.keys import receptor_digest
from omtx_hub.plan import build_plan
from omtx_hub.preflight import check_files
from omtx_hub.records import Interaction
from omtx_hub.result_tables import compact_interactions
from omtx_hub.store import LocalStore
from tests.screens import write_screen
from tests.unit.test_triage import hbond, screen, with_pose_checks, write_every_output

# Position 12 is a cysteine: KRAS G12C's site, numbered 12 by Boltz.
SEQUENCE = "MKTAYIAKQRQCSFVKSHFSRQLE"
FIRST = 229  # the construct's first residue is residue 229 of the protein


def protein(numbered_from: int | None, shift: int) -> dict:
    """A receptor whose pocket, contacts and covalent site name the same residues (Boltz's 2,
    7, 3, 20 and 12), written `shift` above Boltz's numbers."""
    entry = {
        "name": "K",
        "sequence": SEQUENCE,
        "msa": "empty",
        "pocket": {"residues": [["A", 2 + shift], ["A", 7 + shift]]},
        "contacts": [{"token1": ["A", 3 + shift], "token2": ["A", 20 + shift]}],
        "covalent": {"residue": ["A", 12 + shift], "atom": "SG", "warhead": "acrylamide"},
    }
    if numbered_from is not None:
        entry["residue_numbering"] = {"A": numbered_from}
    return entry


def test_residues_in_the_users_numbering_reach_boltz_as_the_same_residues(tmp_path):
    boltz = load_config(write_screen(tmp_path, proteins=[protein(None, 0)]))
    users = load_config(write_screen(tmp_path, proteins=[protein(FIRST, FIRST - 1)]))
    as_boltz, as_users = boltz.proteins[0].receptor, users.proteins[0].receptor
    assert as_users == as_boltz
    assert [r.residue for r in as_users.pocket.residues] == [2, 7]
    assert as_users.covalent.residue.residue == 12
    assert receptor_digest(as_users, {"A": "single-sequence"}, []) == receptor_digest(
        as_boltz, {"A": "single-sequence"}, []
    )
    documents = [
        input_document(r, {"A": "empty"}, "C=CC(=O)N", affinity=False, covalent_atom="C1")
        for r in (as_boltz, as_users)
    ]
    assert documents[0] == documents[1]
    assert {"atom1": ["A", 12, "SG"], "atom2": ["B", 1, "C1"]} in [
        c.get("bond") for c in documents[1]["constraints"]
    ]


def test_the_numbering_changes_no_target_key(tmp_path):
    plain = {"name": "K", "sequence": SEQUENCE, "msa": "empty", "pocket": {"residues": [["A", 7]]}}
    numbered = {**plain, "pocket": {"residues": [["A", 235]]}, "residue_numbering": {"A": FIRST}}
    keys = []
    for entry in (plain, numbered):
        config = load_config(write_screen(tmp_path, proteins=[entry]))
        plan = build_plan(config, LocalStore(config.store))
        keys.append(sorted(target.key for target in plan.targets()))
    assert keys[0] == keys[1]


def test_the_site_and_pocket_are_shown_as_the_config_writes_them(tmp_path):
    """summary.json's pocket and covalent site, and a message about the site, name the
    residues in the user's numbering; Boltz gets its own (above)."""
    entry = protein(FIRST, FIRST - 1)
    acrylamides = [("a1", "C=CC(=O)Nc1ccccc1"), ("a2", "C=CC(=O)NC")]
    config = load_config(
        write_screen(tmp_path, rows=acrylamides, proteins=[{**entry, "contacts": []}])
    )
    plan = build_plan(config, LocalStore(config.store))
    shown = protein_entry(plan, "K")
    assert shown.pocket["residues"] == [
        {"chain": "A", "residue": 230, "atom": None},
        {"chain": "A", "residue": 235, "atom": None},
    ]
    assert shown.covalent["residue"]["residue"] == 240
    wrong_atom = {**entry, "covalent": {**entry["covalent"], "atom": "OG"}}
    with pytest.raises(ConfigError, match="residue 240 of chain A is CYS, which has no atom"):
        check_files(load_config(write_screen(tmp_path, proteins=[wrong_atom])))


@pytest.mark.parametrize(
    ("numbering", "shift", "message"),
    [
        ({"B": 5}, 0, "residue_numbering.B': chain B is no protein chain of this receptor (A)"),
        (
            {"A": FIRST},
            0,  # Boltz's numbers given where the user's are expected
            "pocket.residues[0]': residue 2 is outside chain A (229-252: residue_numbering",
        ),
        ({"A": -20000}, 0, "residue_numbering.A"),
    ],
)
def test_a_bad_numbering_is_refused_naming_the_key(tmp_path, numbering, shift, message):
    entry = {**protein(None, shift), "residue_numbering": numbering}
    with pytest.raises(ConfigError) as error:
        load_config(write_screen(tmp_path, proteins=[entry]))
    assert message in str(error.value)


def test_compact_interactions_name_residues_in_the_users_numbering():
    found = [Interaction(**hbond("MET", 90)), Interaction(**{**hbond("LYS", 43), "chain": "B"})]
    assert compact_interactions(found) == "A:MET90:hbond-donor;B:LYS43:hbond-donor"
    # A chain the numbering leaves out keeps Boltz's numbers.
    assert compact_interactions(found, {"A": FIRST}) == "A:MET318:hbond-donor;B:LYS43:hbond-donor"


def test_interactions_and_triage_rules_are_in_the_users_numbering(tmp_path):
    """P1 is numbered from 229, P2 as Boltz numbers it: the same pose (Boltz's MET90) is
    A:MET318 on P1, where the hinge rule in the user's numbering finds it, and A:MET90 on
    P2; interactions.csv gives both numbers; the stored checks keep Boltz's."""
    plan, manifests = screen(
        tmp_path, exclude_alerts=[], properties={}, require_interactions=["A:MET318 hbond"]
    )
    raw = plan.config.model_dump(mode="json", exclude_unset=True)
    raw["proteins"][0]["residue_numbering"] = {"A": FIRST}
    config = load_config(raw)
    numbered = build_plan(config, LocalStore(config.store))
    assert sorted(t.key for t in numbered.targets()) == sorted(t.key for t in plan.targets())
    with_pose_checks(
        manifests, {"CCN": {"posebusters_pass": True, "interactions": [hbond("MET", 90)]}}
    )
    table = results_table(numbered, read_manifests(manifests, None, config.residue_numbering)[0])
    strong = table[table["ligand_name"] == "strong"].set_index("protein")
    assert strong.loc["P1", "interactions"] == "A:MET318:hbond-donor"
    assert strong.loc["P1", "triage"] == "pass"
    assert strong.loc["P2", "interactions"] == "A:MET90:hbond-donor"
    assert strong.loc["P2", "triage"] == "interaction A:MET318 hbond"
    out = write_every_output(numbered, manifests, tmp_path / "out")
    found = pd.read_csv(out / "interactions.csv").set_index("protein")
    assert found.loc["P1", ["residue", "number", "boltz_number"]].tolist() == ["MET", 318, 90]
    assert found.loc["P2", ["residue", "number", "boltz_number"]].tolist() == ["MET", 90, 90]
    written = pd.read_csv(out / "batch_results.csv")
    assert set(written["interactions"].dropna()) == {"A:MET318:hbond-donor", "A:MET90:hbond-donor"}
