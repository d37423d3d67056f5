"""Pose checks (PoseBusters) and interactions (ProLIF) of a structure as Boltz writes it, on a
small real complex with a known hydrogen bond (tests/pose_complex.py), and their storage by
target key and checker version (omtx_hub.pose_store)."""

from __future__ import annotations

import pytest

from omtx_hub.pose_checks import TRIAGE_CHECKS_VERSION, check_pose
from omtx_hub.pose_store import Triage, stored_triage
from omtx_hub.records import Interaction, ManifestEntry, PoseTriage
from omtx_hub.result_tables import pose_check_columns, split_interactions
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import TRIAGE_OBJECT, object_path, triage_key
from tests.pose_complex import HBOND_RESIDUE, LIGAND_SMILES, complex_cif

KEY = "ab" * 32


@pytest.fixture(scope="module")
def good_pose() -> PoseTriage:
    return check_pose(complex_cif(), LIGAND_SMILES, "B")


def test_a_plausible_pose_passes_posebusters(good_pose):
    assert good_pose.error is None
    assert good_pose.posebusters_pass is True
    assert good_pose.posebusters_failed == []
    assert good_pose.version == TRIAGE_CHECKS_VERSION


def test_the_known_hydrogen_bond_is_found_with_its_direction_residue_and_atoms(good_pose):
    hbonds = [i for i in good_pose.interactions if i.type.startswith("hbond")]
    assert hbonds == [
        Interaction(
            chain="A",
            residue="SER",
            number=HBOND_RESIDUE,
            type="hbond-donor",  # the pyrrole's N-H donates to the backbone O
            ligand_atoms=["N10"],  # Boltz's name of the N (element + canonical rank)
            distance=2.9,
        )
    ]
    columns = pose_check_columns(good_pose)
    assert "A:SER3:hbond-donor" in columns["interactions"].split(";")
    assert ("A:SER3", "hbond-donor") in split_interactions(columns["interactions"])
    assert columns["posebusters_pass"] is True and columns["posebusters_failed"] == ""


def test_a_stretched_ligand_fails_posebusters_by_name():
    broken = check_pose(complex_cif(ligand_scale=1.4), LIGAND_SMILES, "B")
    assert broken.posebusters_pass is False
    assert {"bond_lengths", "bond_angles"} <= set(broken.posebusters_failed)
    columns = pose_check_columns(broken)
    assert "bond_lengths" in columns["posebusters_failed"].split(";")


def test_a_ligand_moved_away_has_no_hydrogen_bond():
    far = check_pose(complex_cif(ligand_shift=3.0), LIGAND_SMILES, "B")
    assert not [i for i in far.interactions if i.type.startswith("hbond")]


def test_a_structure_of_another_molecule_is_an_error_of_that_target_alone():
    wrong = check_pose(complex_cif(), "c1ccoc1", "B")  # furan: other atom names
    assert wrong.posebusters_pass is None and "not the modelled molecule" in wrong.error
    assert pose_check_columns(wrong)["pose_checks_error"] == wrong.error
    assert "no ligand chain C" in check_pose(complex_cif(), LIGAND_SMILES, "C").error
    assert check_pose(b"not a structure", LIGAND_SMILES, "B").error is not None


def test_results_are_stored_by_key_and_version_and_never_computed_twice(tmp_path):
    store = LocalStore(tmp_path / "store")
    triage = Triage(store, "B")
    triage.submit(KEY, LIGAND_SMILES, complex_cif())
    first = triage.results()[KEY]
    assert first.posebusters_pass is True
    name = object_path(TRIAGE_OBJECT, triage_key(TRIAGE_CHECKS_VERSION, KEY))
    assert name == f"triage/{TRIAGE_CHECKS_VERSION}/{KEY}.json"
    assert stored_triage(store, KEY) == first
    # Given another structure, the stored result is served: nothing is computed again.
    again = Triage(store, "B")
    again.submit(KEY, LIGAND_SMILES, complex_cif(ligand_scale=1.4))
    assert again.results()[KEY] == first


def test_a_target_the_store_lacks_stays_unchecked_without_failing_the_others(tmp_path):
    store = LocalStore(tmp_path / "store")
    triage = Triage(store, "B")
    triage.submit("cd" * 32, LIGAND_SMILES)  # no structure given, none stored
    triage.submit(KEY, LIGAND_SMILES, complex_cif())
    results = triage.results()
    assert list(results) == [KEY]


def test_manifest_entries_carry_the_checks_and_read_back():
    triage = check_pose(complex_cif(), LIGAND_SMILES, "B")
    entry = {
        "key": KEY,
        "status": "completed",
        "weights": {"identity": "w", "released": False, "note": "test"},
        "protein": "P1",
        "ligands": [{"index": 1, "ligand_id": "L1", "name": "pyrrole"}],
        "source": "computed",
        "triage": triage.to_json(),
    }
    assert ManifestEntry.model_validate(entry).triage == triage


def test_a_pose_passes_after_the_stderr_of_an_earlier_check_was_closed(monkeypatch):
    """PoseBusters leaves RDKit's log handler on the `sys.stderr` of its last check; a host that
    closes that stream (pytest's capture did, in CI) must not turn the next good pose into an
    `inchi_convertible` failure."""
    import io

    redirected = io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr("sys.stderr", redirected)
    assert check_pose(complex_cif(), LIGAND_SMILES, "B").posebusters_failed == []
    redirected.close()
    monkeypatch.undo()
    assert check_pose(complex_cif(), LIGAND_SMILES, "B").posebusters_failed == []
