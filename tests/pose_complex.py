"""Small protein-ligand complexes written as Boltz writes a prediction (mmCIF, no hydrogens,
the ligand in its own chain with Boltz's atom names), each with a known hydrogen bond: a
ligand N-H points at the backbone O of residue 3 (SER) of a five-residue peptide, 2.9 Å away.

`complex_cif`: a pyrrole by SMILES (atoms named element + canonical rank); `ccd_complex_cif`:
a CCD molecule of Boltz's cache (atoms by CCD name), optionally with an organic cofactor (a
CCD molecule in its own chain) near the ligand or overlapping it."""

from __future__ import annotations

import gemmi
import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem

PEPTIDE = "GASGG"
LIGAND_SMILES = "c1cc[nH]c1"
HBOND_RESIDUE = 3  # SER3's backbone O accepts the ligand's N-H
HBOND_DISTANCE = 2.9
LIGAND_CHAIN = "B"
COFACTOR_CHAIN = "C"


def _rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation taking unit vector `source` onto unit vector `target` (Rodrigues)."""
    axis = np.cross(source, target)
    sine, cosine = np.linalg.norm(axis), float(np.dot(source, target))
    if sine < 1e-9:
        return np.eye(3) if cosine > 0 else -np.eye(3)
    k = axis / sine
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sine * skew + (1 - cosine) * skew @ skew


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _peptide():
    """The peptide (heavy atoms), its SER3 backbone O and the unit vector C->O there."""
    peptide = Chem.AddHs(Chem.MolFromSequence(PEPTIDE))
    AllChem.EmbedMolecule(peptide, randomSeed=7)
    peptide = Chem.RemoveHs(peptide)
    xyz = peptide.GetConformer().GetPositions()
    atom = {
        (a.GetPDBResidueInfo().GetResidueNumber(), a.GetPDBResidueInfo().GetName().strip()): i
        for i, a in enumerate(peptide.GetAtoms())
    }
    oxygen = xyz[atom[(HBOND_RESIDUE, "O")]]
    away = _unit(oxygen - xyz[atom[(HBOND_RESIDUE, "C")]])
    return peptide, oxygen, away


def _hbonded(positions, donor: int, outward, *, scale: float = 1.0, shift: float = 0.0):
    """`positions` moved so that the donor's `outward` direction (its N-H) points at SER3's O
    along the C=O axis, the donor HBOND_DISTANCE (+ `shift`) from the O; `scale` stretches the
    molecule about the donor (a broken pose)."""
    peptide, oxygen, away = _peptide()
    rotated = (positions - positions[donor]) @ _rotation(_unit(outward), -away).T
    return peptide, rotated * scale + oxygen + away * (HBOND_DISTANCE + shift)


def _residue(name: str, atoms) -> gemmi.Residue:
    """A HETATM residue of `atoms`: (atom name, element, position) each."""
    residue = gemmi.Residue()
    residue.name = name
    residue.seqid = gemmi.SeqId(1, " ")
    residue.het_flag = "H"
    for atom_name, element, position in atoms:
        site = gemmi.Atom()
        site.name = atom_name
        site.element = gemmi.Element(element)
        site.pos = gemmi.Position(*position)
        site.occ = 1.0
        residue.add_atom(site)
    return residue


def _mmcif(peptide, chains: dict[str, gemmi.Residue]) -> bytes:
    structure = gemmi.read_pdb_string(Chem.MolToPDBBlock(peptide))
    for name, residue in chains.items():
        chain = gemmi.Chain(name)
        chain.add_residue(residue)
        structure[0].add_chain(chain)
    structure.setup_entities()
    return structure.make_mmcif_document().as_string().encode()


def complex_cif(*, ligand_scale: float = 1.0, ligand_shift: float = 0.0) -> bytes:
    """The pyrrole complex as Boltz's mmCIF; `ligand_scale` stretches the ligand about its
    N (a broken pose), `ligand_shift` moves it that many Å further along the hydrogen bond."""
    ligand = Chem.AddHs(Chem.MolFromSmiles(LIGAND_SMILES))
    AllChem.EmbedMolecule(ligand, randomSeed=7)
    ranks = AllChem.CanonicalRankAtoms(ligand)
    names = [
        a.GetSymbol().upper() + str(r + 1) for a, r in zip(ligand.GetAtoms(), ranks, strict=True)
    ]
    positions = ligand.GetConformer().GetPositions()
    nitrogen = next(a.GetIdx() for a in ligand.GetAtoms() if a.GetSymbol() == "N")
    ring = [a.GetIdx() for a in ligand.GetAtoms() if a.GetIsAromatic()]
    outward = positions[nitrogen] - positions[ring].mean(axis=0)
    peptide, placed = _hbonded(positions, nitrogen, outward, scale=ligand_scale, shift=ligand_shift)
    atoms = [
        (names[a.GetIdx()], a.GetSymbol(), placed[a.GetIdx()])
        for a in ligand.GetAtoms()
        if a.GetAtomicNum() != 1
    ]
    return _mmcif(peptide, {LIGAND_CHAIN: _residue("LIG1", atoms)})


def ccd_complex_cif(
    code: str, molecule, donor: str, *, cofactor=None, cofactor_gap: float = 0.0
) -> bytes:
    """The complex of CCD molecule `molecule` (Boltz's cache: hydrogens, CCD atom names, a
    conformer) as residue `code` of the ligand chain, its atom `donor`'s first N-H pointing at
    SER3's O; with `cofactor` (code, CCD molecule), that molecule as residue `code` of chain
    COFACTOR_CHAIN, its centre `cofactor_gap` Å beyond the ligand atom farthest from the
    peptide (0: on the ligand's centre, overlapping it)."""
    # Its hydrogens as the checks place them (RDKit's, on the heavy atoms): Boltz writes none.
    with_hydrogens = Chem.AddHs(Chem.RemoveHs(molecule), addCoords=True)
    positions = with_hydrogens.GetConformer().GetPositions()
    atoms = list(with_hydrogens.GetAtoms())
    index = next(a.GetIdx() for a in atoms if a.GetAtomicNum() != 1 and a.GetProp("name") == donor)
    hydrogen = next(n.GetIdx() for n in atoms[index].GetNeighbors() if n.GetAtomicNum() == 1)
    peptide, placed = _hbonded(positions, index, positions[hydrogen] - positions[index])
    heavy = [a for a in atoms if a.GetAtomicNum() != 1]
    chains = {
        LIGAND_CHAIN: _residue(
            code, [(a.GetProp("name"), a.GetSymbol(), placed[a.GetIdx()]) for a in heavy]
        )
    }
    if cofactor is not None:
        cofactor_code, cofactor_molecule = cofactor
        ligand = placed[[a.GetIdx() for a in heavy]]
        centre = ligand.mean(axis=0)
        if cofactor_gap:
            farthest = ligand[np.argmax(np.linalg.norm(ligand - placed[index], axis=1))]
            centre = farthest + _unit(farthest - centre) * cofactor_gap
        own = cofactor_molecule.GetConformer().GetPositions()
        own_heavy = [a for a in cofactor_molecule.GetAtoms() if a.GetAtomicNum() != 1]
        own_centre = own[[a.GetIdx() for a in own_heavy]].mean(axis=0)
        chains[COFACTOR_CHAIN] = _residue(
            cofactor_code,
            [
                (a.GetProp("name"), a.GetSymbol(), own[a.GetIdx()] - own_centre + centre)
                for a in own_heavy
            ],
        )
    return _mmcif(peptide, chains)
