"""The pose consensus of Boltz-2 and Chai-1 (omtx_hub/consensus.py) on real-format files: the
Boltz-format complex of tests/pose_complex.py, and the same complex in the CIF chai-lab 0.6.1
itself wrote (tests/unit/chai1_structures/, README there) with that complex's coordinates put
in its atom sites."""

from __future__ import annotations

from pathlib import Path

import gemmi
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolAlign

from omtx_hub.consensus import (
    POSE_RMSD_THRESHOLD_A,
    ConsensusError,
    ConsensusThresholds,
    chai_atom_names,
    ligand_positions,
    ligand_rmsd,
    pose_consensus,
)
from omtx_hub.warheads import boltz_atom_names
from tests.pose_complex import LIGAND_SMILES, complex_cif

CHAI_FILES = Path(__file__).parent / "chai1_structures"
CHAI_PYRROLE = CHAI_FILES / "gasgg_pyrrole.cif"  # GASGG + c1cc[nH]c1, as tests/pose_complex.py
BENZOIC_ACID = "OC(=O)c1ccccc1"


def structure(cif: bytes):
    found = gemmi.make_structure_from_block(gemmi.cif.read_string(cif.decode()).sole_block())
    found.setup_entities()
    return found


def rotation(degrees: float, axis) -> np.ndarray:
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


def a_symmetry(molecule) -> list[int]:
    """An automorphism of `molecule` other than the identity."""
    matches = molecule.GetSubstructMatches(molecule, uniquify=False)
    return list(next(m for m in matches if list(m) != list(range(len(m)))))


def as_chai(boltz_cif: bytes, *, move=lambda xyz: xyz, ligand_atoms=None) -> bytes:
    """chai-lab's own CIF of the complex with the Boltz-format complex's coordinates in it,
    moved by `move`; Chai's ligand atom i placed where Boltz's atom ligand_atoms[i] is."""
    boltz = structure(boltz_cif)
    protein = {
        (number, atom.name): atom.pos
        for number, residue in enumerate(boltz[0]["A"], 1)
        for atom in residue
    }
    ligand = {atom.name: atom.pos for residue in boltz[0]["B"] for atom in residue}
    molecule = Chem.MolFromSmiles(LIGAND_SMILES)
    order = ligand_atoms or range(molecule.GetNumAtoms())
    boltz_names = boltz_atom_names(molecule)
    to_boltz = {
        chai: boltz_names[i] for chai, i in zip(chai_atom_names(molecule), order, strict=True)
    }
    document = gemmi.cif.read_string(CHAI_PYRROLE.read_text())
    table = document.sole_block().find(
        "_atom_site.",
        ["label_atom_id", "auth_asym_id", "auth_seq_id", "Cartn_x", "Cartn_y", "Cartn_z"],
    )
    for row in table:
        name, chain, number = row[0], row[1], int(row[2])
        position = ligand[to_boltz[name]] if chain == "B" else protein[(number, name)]
        x, y, z = move(np.array([position.x, position.y, position.z]))
        row[3], row[4], row[5] = repr(float(x)), repr(float(y)), repr(float(z))
    return document.as_string().encode()


def consensus(boltz_cif: bytes, chai_cif: bytes, **scores):
    confidences = {"boltz_confidence": 0.9, "chai_confidence": 0.8} | scores
    return pose_consensus(
        boltz_cif,
        chai_cif,
        LIGAND_SMILES,
        boltz_ligand_chain="B",
        chai_ligand_chain="B",
        **confidences,
    )


def test_chai_lab_names_the_ligand_atoms_as_chai_atom_names():
    for name, smiles in (
        ("gasgg_pyrrole.cif", LIGAND_SMILES),
        ("gasgg_benzoic_acid.cif", BENZOIC_ACID),
    ):
        chai = structure((CHAI_FILES / name).read_bytes())
        molecule = Chem.MolFromSmiles(smiles)
        # Every heavy atom found by its name, and of its element (checked inside).
        positions = ligand_positions(chai, "B", chai_atom_names(molecule), molecule, "Chai-1")
        assert positions.shape == (molecule.GetNumAtoms(), 3)


def test_identical_poses_agree_at_zero_rmsd():
    boltz = complex_cif()
    found = consensus(boltz, as_chai(boltz))
    assert found.consensus_rmsd == 0.0
    assert found.agree
    assert found.receptor_ca_rmsd == 0.0
    assert found.matched_ca == 5
    assert found.thresholds.pose_rmsd_a == POSE_RMSD_THRESHOLD_A == 2.0


def test_a_rigidly_moved_complex_is_superposed_back():
    boltz = complex_cif()
    turn = rotation(73.0, [1.0, -2.0, 0.5])
    moved = as_chai(boltz, move=lambda xyz: xyz @ turn.T + np.array([40.0, -12.0, 7.5]))
    found = consensus(boltz, moved)
    assert found.consensus_rmsd < 1e-3
    assert found.receptor_ca_rmsd < 1e-3
    assert found.agree


def test_a_ligand_flipped_by_its_symmetry_is_the_same_pose():
    boltz = complex_cif()
    molecule = Chem.MolFromSmiles(LIGAND_SMILES)
    flip = a_symmetry(molecule)  # the pyrrole's mirror through N: C2<->C5, C3<->C4
    found = consensus(boltz, as_chai(boltz, ligand_atoms=flip))
    assert found.consensus_rmsd == 0.0
    assert found.agree
    poses = [
        ligand_positions(structure(cif), "B", names, molecule, engine)
        for cif, names, engine in (
            (boltz, boltz_atom_names(molecule), "Boltz-2"),
            (as_chai(boltz, ligand_atoms=flip), chai_atom_names(molecule), "Chai-1"),
        )
    ]
    assert ligand_rmsd(molecule, *poses, symmetric=False) > 1.0  # atom by atom: not the same


def embedded(smiles: str):
    molecule = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(molecule, randomSeed=11)
    return Chem.RemoveHs(molecule)


def test_a_swapped_carboxylate_and_a_flipped_ring_are_the_same_pose_as_rdkit_counts_them():
    molecule = embedded(BENZOIC_ACID)  # O1 C2(=O3) c4 c5 c6 c7 c8 c9
    pose = molecule.GetConformer().GetPositions()
    oxygens_swapped = pose[[2, 1, 0, 3, 4, 5, 6, 7, 8]]
    ring_flipped = pose[[0, 1, 2, 3, 8, 7, 6, 5, 4]]
    jitter = np.random.default_rng(5).normal(scale=0.4, size=pose.shape)
    for other, expected in (
        (oxygens_swapped, 0.0),
        (ring_flipped, 0.0),
        (ring_flipped + jitter, None),
    ):
        # RDKit's own in-place, symmetry-aware RMSD of the same two poses.
        probe = Chem.Mol(molecule)
        for index, xyz in enumerate(other):
            probe.GetConformer().SetAtomPosition(index, xyz.tolist())
        rdkit_rmsd = rdMolAlign.CalcRMS(probe, molecule)
        assert ligand_rmsd(molecule, pose, other) == pytest.approx(rdkit_rmsd, abs=1e-6)
        assert ligand_rmsd(molecule, pose, other, symmetric=False) > rdkit_rmsd + 0.5
        if expected is not None:
            assert rdkit_rmsd == pytest.approx(expected, abs=1e-6)
    shifted = pose + np.array([0.0, 0.0, 1.5])
    assert ligand_rmsd(molecule, pose, shifted) == pytest.approx(1.5)


def test_a_ligand_moved_3_angstrom_disagrees():
    found = consensus(complex_cif(), as_chai(complex_cif(ligand_shift=3.0)))
    assert found.consensus_rmsd == pytest.approx(3.0, abs=1e-3)
    assert found.receptor_ca_rmsd == 0.0
    assert not found.agree


def test_an_engine_below_its_confidence_threshold_disagrees():
    boltz = complex_cif()
    thresholds = ConsensusThresholds(boltz_confidence=0.5, chai_confidence=0.5)
    confident = consensus(boltz, as_chai(boltz), thresholds=thresholds)
    unsure = consensus(boltz, as_chai(boltz), chai_confidence=0.3, thresholds=thresholds)
    assert confident.agree
    assert unsure.consensus_rmsd == 0.0
    assert not unsure.agree


def test_different_receptor_sequences_are_refused():
    boltz = complex_cif()
    mutated = as_chai(boltz).replace(b" SER ", b" ALA ")
    with pytest.raises(ConsensusError, match="has SER at residue 3, Chai-1's chain A .* has ALA"):
        consensus(boltz, mutated)
    no_protein = structure(boltz)
    no_protein[0].remove_chain("A")
    with pytest.raises(ConsensusError, match="Boltz-2's structure has no protein chain"):
        consensus(no_protein.make_mmcif_document().as_string().encode(), as_chai(boltz))


def test_a_ligand_that_is_not_the_modelled_molecule_is_refused():
    boltz = complex_cif()
    other = (CHAI_FILES / "gasgg_benzoic_acid.cif").read_bytes()
    with pytest.raises(ConsensusError, match="Chai-1's ligand chain B holds heavy atoms"):
        consensus(boltz, other)
    with pytest.raises(ConsensusError, match="Chai-1's structure has no ligand chain C"):
        pose_consensus(
            boltz,
            as_chai(boltz),
            LIGAND_SMILES,
            boltz_ligand_chain="B",
            chai_ligand_chain="C",
            boltz_confidence=1.0,
            chai_confidence=1.0,
        )
