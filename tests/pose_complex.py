"""A small protein-ligand complex written as Boltz writes a prediction (mmCIF, no hydrogens,
the ligand in its own chain with Boltz's atom names), with a known hydrogen bond: a pyrrole's
N-H points at the backbone O of residue 3 (SER) of a five-residue peptide, 2.9 Å away."""

from __future__ import annotations

import gemmi
import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem

PEPTIDE = "GASGG"
LIGAND_SMILES = "c1cc[nH]c1"
HBOND_RESIDUE = 3  # SER3's backbone O accepts the pyrrole's N-H
HBOND_DISTANCE = 2.9


def _rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation taking unit vector `source` onto unit vector `target` (Rodrigues)."""
    axis = np.cross(source, target)
    sine, cosine = np.linalg.norm(axis), float(np.dot(source, target))
    if sine < 1e-9:
        return np.eye(3) if cosine > 0 else -np.eye(3)
    k = axis / sine
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sine * skew + (1 - cosine) * skew @ skew


def complex_cif(*, ligand_scale: float = 1.0, ligand_shift: float = 0.0) -> bytes:
    """The complex as Boltz's mmCIF; `ligand_scale` stretches the ligand about its centre (a
    broken pose), `ligand_shift` moves it that many Å further along the hydrogen bond."""
    peptide = Chem.AddHs(Chem.MolFromSequence(PEPTIDE))
    AllChem.EmbedMolecule(peptide, randomSeed=7)
    peptide = Chem.RemoveHs(peptide)
    xyz = peptide.GetConformer().GetPositions()
    atom = {
        (a.GetPDBResidueInfo().GetResidueNumber(), a.GetPDBResidueInfo().GetName().strip()): i
        for i, a in enumerate(peptide.GetAtoms())
    }
    oxygen = xyz[atom[(HBOND_RESIDUE, "O")]]
    away = oxygen - xyz[atom[(HBOND_RESIDUE, "C")]]
    away /= np.linalg.norm(away)

    ligand = Chem.AddHs(Chem.MolFromSmiles(LIGAND_SMILES))
    AllChem.EmbedMolecule(ligand, randomSeed=7)
    ranks = AllChem.CanonicalRankAtoms(ligand)
    names = [
        a.GetSymbol().upper() + str(r + 1) for a, r in zip(ligand.GetAtoms(), ranks, strict=True)
    ]
    positions = ligand.GetConformer().GetPositions()
    nitrogen = next(a.GetIdx() for a in ligand.GetAtoms() if a.GetSymbol() == "N")
    ring = [a.GetIdx() for a in ligand.GetAtoms() if a.GetIsAromatic()]
    centre = positions[ring].mean(axis=0)
    outward = positions[nitrogen] - centre
    outward /= np.linalg.norm(outward)
    # N-H along -away: the H between N and O, the N at HBOND_DISTANCE from the O.
    rotated = (positions - positions[nitrogen]) @ _rotation(outward, -away).T
    rotated = rotated * ligand_scale
    placed = rotated + oxygen + away * (HBOND_DISTANCE + ligand_shift)

    structure = gemmi.read_pdb_string(Chem.MolToPDBBlock(peptide))
    chain = gemmi.Chain("B")
    residue = gemmi.Residue()
    residue.name = "LIG1"
    residue.seqid = gemmi.SeqId(1, " ")
    residue.het_flag = "H"
    for index, a in enumerate(ligand.GetAtoms()):
        if a.GetAtomicNum() == 1:
            continue
        site = gemmi.Atom()
        site.name = names[index]
        site.element = gemmi.Element(a.GetSymbol())
        site.pos = gemmi.Position(*placed[index])
        site.occ = 1.0
        residue.add_atom(site)
    chain.add_residue(residue)
    structure[0].add_chain(chain)
    structure.setup_entities()
    return structure.make_mmcif_document().as_string().encode()
