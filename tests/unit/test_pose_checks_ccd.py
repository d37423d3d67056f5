"""Pose checks and interactions of a ligand by CCD code (its atoms carry the CCD's names, its
molecule is Boltz's cache molecule) and of a receptor with an organic cofactor by CCD code
(rebuilt from its cache molecule), on small real complexes (tests/pose_complex.py) with the
test cache's 4-guanidinobenzoate (GBS)."""

from __future__ import annotations

import shutil

import pytest
from rdkit import Chem

from omtx_hub.config import load_config
from omtx_hub.molecule_cache import ccd_lookup
from omtx_hub.pose_checks import check_pose, read_complex
from omtx_hub.pose_store import Triage, ccd_cofactors, stored_triage
from omtx_hub.records import Interaction
from omtx_hub.store import LocalStore
from tests.pose_complex import (
    COFACTOR_CHAIN,
    HBOND_RESIDUE,
    LIGAND_CHAIN,
    ccd_complex_cif,
)
from tests.screens import write_screen

KEY = "ef" * 32
CODE = "GBS"
DONOR = "NH1"  # the guanidine's =N-H, pointed at SER3's backbone O


@pytest.fixture(scope="module")
def gbs(boltz_test_cache):
    return ccd_lookup(boltz_test_cache / "mols")(CODE)


def test_a_ccd_ligand_is_checked_by_its_ccd_atom_names(gbs):
    triage = check_pose(ccd_complex_cif(CODE, gbs, DONOR), None, LIGAND_CHAIN, ccd_ligand=gbs)
    assert triage.error is None
    assert triage.posebusters_pass is True and triage.posebusters_failed == []
    assert [i for i in triage.interactions if i.type.startswith("hbond")] == [
        Interaction(
            chain="A",
            residue="SER",
            number=HBOND_RESIDUE,
            type="hbond-donor",
            ligand_atoms=[DONOR],  # the CCD's name of the atom, as Boltz writes it
            distance=2.9,
        )
    ]


def test_a_ccd_ligand_checked_as_its_smiles_is_an_error_not_a_check_of_another_molecule(gbs):
    smiles = Chem.MolToSmiles(Chem.RemoveHs(gbs))
    wrong = check_pose(ccd_complex_cif(CODE, gbs, DONOR), smiles, LIGAND_CHAIN)
    assert wrong.posebusters_pass is None and "not the modelled molecule" in wrong.error


def test_an_organic_cofactor_is_part_of_the_receptor_with_its_ccd_bond_orders(gbs):
    """Overlapping the ligand, the cofactor fails PoseBusters' organic-cofactor checks and is
    a residue of ProLIF's interactions; left out (as before), the same pose passes."""
    overlapping = ccd_complex_cif(CODE, gbs, DONOR, cofactor=(CODE, gbs))
    with_cofactor = check_pose(
        overlapping, None, LIGAND_CHAIN, ccd_ligand=gbs, cofactors={COFACTOR_CHAIN: gbs}
    )
    assert {
        "minimum_distance_to_organic_cofactors",
        "volume_overlap_with_organic_cofactors",
    } <= set(with_cofactor.posebusters_failed)
    assert ("C", "GBS", 1) in {(i.chain, i.residue, i.number) for i in with_cofactor.interactions}
    without = check_pose(overlapping, None, LIGAND_CHAIN, ccd_ligand=gbs)
    assert without.posebusters_pass is True

    nearby = ccd_complex_cif(CODE, gbs, DONOR, cofactor=(CODE, gbs), cofactor_gap=5.0)
    assert check_pose(
        nearby, None, LIGAND_CHAIN, ccd_ligand=gbs, cofactors={COFACTOR_CHAIN: gbs}
    ).posebusters_pass
    _, pose = read_complex(
        nearby, None, LIGAND_CHAIN, ccd_ligand=gbs, cofactors={COFACTOR_CHAIN: gbs}
    )
    cofactor = [
        atom.GetIdx()
        for atom in pose.receptor.GetAtoms()
        if atom.GetPDBResidueInfo().GetChainId() == COFACTOR_CHAIN and atom.GetAtomicNum() != 1
    ]
    fragment = Chem.MolFragmentToSmiles(pose.receptor, cofactor)
    assert fragment == Chem.MolToSmiles(Chem.RemoveHs(gbs))  # bond orders and charges kept


def test_the_cofactors_by_ccd_code_are_named_by_their_chains(tmp_path):
    protein = {
        "name": "R",
        "chains": [{"id": "A", "sequence": "GASGG", "msa": "empty"}],
        "cofactors": [{"ccd": "GBS", "copies": 2}, {"smiles": "CCO"}, {"ccd": "ZN"}],
    }
    (config,) = load_config(write_screen(tmp_path, proteins=[protein])).proteins
    # The ligand is chain B; the SMILES cofactor (chain E) is left out of the receptor.
    assert ccd_cofactors(config.receptor) == {"C": "GBS", "D": "GBS", "F": "ZN"}


def test_triage_reads_ccd_molecules_from_the_cache_and_a_missing_one_is_that_targets_error(
    tmp_path, boltz_test_cache, gbs
):
    cif = ccd_complex_cif(CODE, gbs, DONOR)
    store = LocalStore(tmp_path / "store")
    triage = Triage(store, LIGAND_CHAIN, ccd_molecules=ccd_lookup(boltz_test_cache / "mols"))
    triage.submit(KEY, None, cif, ccd=CODE)
    assert triage.results()[KEY].posebusters_pass is True

    mols = tmp_path / "cache" / "mols"
    shutil.copytree(boltz_test_cache / "mols", mols)
    (mols / f"{CODE}.pkl").unlink()
    other = "01" * 32
    for lookup in (ccd_lookup(mols), None):  # the molecule, or the whole cache, is not here
        missing = Triage(store, LIGAND_CHAIN, ccd_molecules=lookup)
        missing.submit(other, None, cif, ccd=CODE)
        error = missing.results()[other].error
        assert "GBS" in error and ("molecule cache" in error)
        assert stored_triage(store, other) is None  # this machine's cache: checked on a later run
