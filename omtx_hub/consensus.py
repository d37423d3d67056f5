"""The pose consensus of two engines on one target: do Boltz-2's and Chai-1's top structures
put the ligand in the same place? A screen's `consensus` pairs get it per sheet row at
aggregation (omtx_hub.screen_consensus; docs/engines.md, "Consensus").

1. The receptor is superposed: Chai-1's structure is moved onto Boltz-2's by the rotation and
   translation that minimise the RMSD of matched protein CA atoms (Kabsch, numpy). Protein
   chains are matched in the order each file lists them (the engines get the target's
   entities in the same order) and residues by their index along the chain; the residue names
   must be the same, else the two engines did not model the same receptor and nothing is
   compared (`ConsensusError`).
2. The ligand pose RMSD, after that superposition and without re-aligning the ligand, over
   heavy atoms, symmetry-aware: both engines' ligands are the molecule RDKit builds from the
   one SMILES both modelled (bond orders included), each atom placed from the atom the engine
   named for it; the RMSD is the minimum over the molecule's automorphisms, enumerated as its
   substructure matches onto itself with `GetSubstructMatches(uniquify=False)` (RDKit
   documents `uniquify=False` as returning every atom mapping, not one per atom set:
   `SubstructMatchParameters`, rdkit.org/docs/cppapi/structRDKit_1_1SubstructMatchParameters.html).
   Terminal atoms of a conjugated group (a carboxylate's or a nitro group's oxygens) count as
   equivalent although the SMILES gives them different bond orders, as RDKit's own in-place
   RMSD does (`rdMolAlign.CalcRMS`, `symmetrizeConjugatedTerminalGroups=True`:
   rdkit.org/docs/cppapi/structRDKit_1_1MolAlign_1_1BestAlignmentParams.html); the unit tests
   check the two give the same number.
3. `agree`: the RMSD is at most the pair's `pose_rmsd_a` (config), by default 2.0 Å
   (`omtx_hub.config.POSE_RMSD_THRESHOLD_A`), the usual criterion for a correct pose in docking
   benchmarks (PoseBusters' redock check `rmsd_within_threshold`, "RMSD ≤ 2Å", posebusters
   0.6.5 config/redock.yml; Buttenschoen, Morris & Deane, Chem. Sci. 2024, 15, 3130,
   doi:10.1039/D3SC04185A), and each engine's confidence is at least its threshold.

How each engine names the ligand's heavy atoms (a SMILES ligand, parsed by RDKit):
- Boltz-2: element + (canonical rank + 1) over the molecule with hydrogens
  (`omtx_hub.warheads.boltz_atom_names`, checked against Boltz's parser there).
- Chai-1 (chai-lab 0.6.1): element + a count per element in SMILES atom order
  (`RefConformerGenerator.generate`, chai_lab/data/sources/rdkit.py; hydrogens are appended
  after the heavy atoms, so they do not shift the counts), upper-cased, and in the CIF a
  `_<n>` suffix counting repeats of the name in the chain, `_1` for a single ligand
  (`new_context_to_cif_atoms`, chai_lab/data/io/cif_utils.py). Chain letters are A, B, ... in
  the order of the input entities (`get_chain_letter`, same file; chai_lab/chai1.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omtx_hub.config import POSE_RMSD_THRESHOLD_A
from omtx_hub.pose_checks import chai_atom_names, chain_atoms, read_structure
from omtx_hub.warheads import boltz_atom_names

BOLTZ = "Boltz-2"
CHAI = "Chai-1"
# The most automorphisms enumerated (RDKit's CalcRMS allows 1e6); a molecule with more (many
# equivalent symmetric groups) gets the minimum over these, an upper bound.
MAX_LIGAND_SYMMETRIES = 100_000
_RMSD_CHUNK = 10_000  # automorphisms scored at once (bounds the memory per step)
_PEPTIDES = ("PeptideL", "PeptideD")


class ConsensusError(ValueError):
    """The two structures cannot be compared; the message says which and why."""


@dataclass(frozen=True)
class ConsensusThresholds:
    """When two engines agree: the pose RMSD (Å) at most `pose_rmsd_a`, and each engine's
    confidence (Boltz-2's `confidence_score`, Chai-1's `aggregate_score`, both in [0, 1]) at
    least its threshold (0 by default: no confidence gate)."""

    pose_rmsd_a: float = POSE_RMSD_THRESHOLD_A
    boltz_confidence: float = 0.0
    chai_confidence: float = 0.0


@dataclass(frozen=True)
class PoseConsensus:
    """The consensus of one target's two top structures (module docstring)."""

    consensus_rmsd: float  # ligand heavy-atom RMSD in Å, symmetry-aware, receptor superposed
    agree: bool  # consensus_rmsd <= thresholds.pose_rmsd_a and both engines confident
    thresholds: ConsensusThresholds
    receptor_ca_rmsd: float  # Å, of the matched CA atoms after the superposition
    matched_ca: int
    # Chai-1's structure moved into Boltz-2's frame: x -> rotation @ x + translation.
    rotation: tuple[tuple[float, float, float], ...]
    translation: tuple[float, float, float]


def _structure(cif: bytes, engine: str):
    try:
        return read_structure(cif)
    except (RuntimeError, ValueError) as error:
        raise ConsensusError(
            f"{engine}'s structure is not an mmCIF gemmi reads: {error}"
        ) from error


def _protein_chains(structure, ligand_chain: str) -> list:
    return [
        chain
        for chain in structure[0]
        if chain.name != ligand_chain and chain.get_polymer().check_polymer_type().name in _PEPTIDES
    ]


def matched_ca(boltz, chai, *, boltz_ligand_chain: str, chai_ligand_chain: str):
    """(Boltz-2's, Chai-1's) CA positions of the same residues, as two (n, 3) arrays; a
    `ConsensusError` where the protein chains or their sequences differ."""
    boltz_chains = _protein_chains(boltz, boltz_ligand_chain)
    chai_chains = _protein_chains(chai, chai_ligand_chain)
    if not boltz_chains or not chai_chains:
        empty = BOLTZ if not boltz_chains else CHAI
        raise ConsensusError(f"{empty}'s structure has no protein chain to superpose on")
    if len(boltz_chains) != len(chai_chains):
        raise ConsensusError(
            f"{BOLTZ}'s structure has {len(boltz_chains)} protein chains "
            f"({', '.join(c.name for c in boltz_chains)}), {CHAI}'s {len(chai_chains)} "
            f"({', '.join(c.name for c in chai_chains)}): not the same receptor"
        )
    pairs = []
    for order, (first, second) in enumerate(zip(boltz_chains, chai_chains, strict=True), 1):
        one, other = first.get_polymer(), second.get_polymer()
        names = [r.name for r in one], [r.name for r in other]
        if names[0] != names[1]:
            at = next(
                (i for i, (a, b) in enumerate(zip(*names, strict=False)) if a != b),
                min(map(len, names)),
            )
            seen = [n[at] if at < len(n) else "(chain ends)" for n in names]
            raise ConsensusError(
                f"protein chain {order} differs: {BOLTZ}'s chain {first.name} "
                f"({len(names[0])} residues) has {seen[0]} at residue {at + 1}, {CHAI}'s "
                f"chain {second.name} ({len(names[1])} residues) has {seen[1]}; consensus "
                "compares two predictions of the same receptor sequence"
            )
        for a, b in zip(one, other, strict=True):
            found = a.find_atom("CA", "*"), b.find_atom("CA", "*")
            if all(found):
                pairs.append([[atom.pos.x, atom.pos.y, atom.pos.z] for atom in found])
    if len(pairs) < 3:
        raise ConsensusError(f"only {len(pairs)} matched CA atoms: at least 3 superpose")
    positions = np.array(pairs, dtype=float)
    return positions[:, 0], positions[:, 1]


def superposition(mobile: np.ndarray, target: np.ndarray):
    """(rotation, translation) minimising the RMSD of `mobile @ rotation.T + translation` to
    `target` (Kabsch; a reflection is never chosen)."""
    mobile_centre, target_centre = mobile.mean(axis=0), target.mean(axis=0)
    covariance = (mobile - mobile_centre).T @ (target - target_centre)
    u, _, vt = np.linalg.svd(covariance)
    handedness = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag([1.0, 1.0, handedness]) @ u.T
    return rotation, target_centre - mobile_centre @ rotation.T


def _ligand(smiles: str):
    from rdkit import Chem

    molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        raise ConsensusError(f"the modelled SMILES '{smiles}' does not parse (RDKit)")
    return molecule


def ligand_positions(structure, chain: str, names: list[str], molecule, engine: str):
    """The (n, 3) positions of `molecule`'s atoms, found in `chain` by `names` (one per atom,
    the engine's names); a `ConsensusError` where the chain holds other heavy atoms."""
    atoms = {
        name: atom
        for name, atom in chain_atoms(structure, chain).items()
        if atom.element.name != "H"
    }
    if not atoms:
        raise ConsensusError(f"{engine}'s structure has no ligand chain {chain}")
    if set(atoms) != set(names):
        raise ConsensusError(
            f"{engine}'s ligand chain {chain} holds heavy atoms {sorted(atoms)}, not those "
            f"{engine} names for the modelled SMILES ({sorted(names)}): not the modelled molecule"
        )
    for atom, name in zip(molecule.GetAtoms(), names, strict=True):
        if atoms[name].element.atomic_number != atom.GetAtomicNum():
            raise ConsensusError(f"{engine}'s ligand atom {name} is not {atom.GetSymbol()}")
    return np.array([[atoms[n].pos.x, atoms[n].pos.y, atoms[n].pos.z] for n in names])


def _symmetrize_terminal_groups(molecule):
    """A copy of `molecule` in which the terminal atoms of one element that an atom holds by
    conjugated bonds (a carboxylate's two O, a nitro group's, an amidine's N) are single-bonded
    and uncharged, so that they match each other (RDKit's `symmetrizeConjugatedTerminalGroups`
    does the same)."""
    from rdkit import Chem

    copy = Chem.RWMol(molecule)
    for centre in molecule.GetAtoms():
        groups: dict[int, list] = {}
        for bond in centre.GetBonds():
            other = bond.GetOtherAtom(centre)
            if other.GetDegree() == 1 and bond.GetIsConjugated():
                groups.setdefault(other.GetAtomicNum(), []).append((bond, other))
        for members in groups.values():
            if len(members) < 2:
                continue
            for bond, atom in members:
                copy.GetBondWithIdx(bond.GetIdx()).SetBondType(Chem.BondType.SINGLE)
                copy.GetAtomWithIdx(atom.GetIdx()).SetFormalCharge(0)
    return copy


def ligand_rmsd(molecule, reference: np.ndarray, probe: np.ndarray, *, symmetric=True) -> float:
    """The heavy-atom RMSD (Å) between two poses of `molecule` (positions in its atom order),
    as placed (no alignment): the minimum over its automorphisms when `symmetric`, else atom i
    against atom i."""
    heavy = np.array([a.GetAtomicNum() > 1 for a in molecule.GetAtoms()])
    if symmetric:
        query = _symmetrize_terminal_groups(molecule)
        found = query.GetSubstructMatches(
            query, uniquify=False, useChirality=False, maxMatches=MAX_LIGAND_SYMMETRIES
        )
        matches = np.array(found, dtype=int)
    else:
        matches = np.arange(len(heavy))[None, :]
    best = np.inf
    for start in range(0, len(matches), _RMSD_CHUNK):
        chunk = matches[start : start + _RMSD_CHUNK][:, heavy]
        squared = ((reference[heavy][None] - probe[chunk]) ** 2).sum(axis=-1)
        best = min(best, float(np.sqrt(squared.mean(axis=-1)).min()))
    return best


def pose_consensus(
    boltz_cif: bytes,
    chai_cif: bytes,
    smiles: str,
    *,
    boltz_ligand_chain: str,
    chai_ligand_chain: str,
    boltz_confidence: float,
    chai_confidence: float,
    thresholds: ConsensusThresholds = ConsensusThresholds(),
) -> PoseConsensus:
    """The consensus of Boltz-2's and Chai-1's top structures of one target (mmCIF bytes as
    each engine writes them) whose ligand, in the named chains, both modelled from `smiles`:
    the SMILES each engine was given, so where Boltz-2 models a standardised SMILES (the
    affinity ligand, `omtx_hub.chemistry.boltz_standardize`), Chai-1 must be given it too."""
    boltz, chai = _structure(boltz_cif, BOLTZ), _structure(chai_cif, CHAI)
    boltz_ca, chai_ca = matched_ca(
        boltz, chai, boltz_ligand_chain=boltz_ligand_chain, chai_ligand_chain=chai_ligand_chain
    )
    rotation, translation = superposition(chai_ca, boltz_ca)
    receptor_rmsd = np.sqrt(((chai_ca @ rotation.T + translation - boltz_ca) ** 2).sum(-1).mean())
    molecule = _ligand(smiles)
    boltz_pose = ligand_positions(
        boltz, boltz_ligand_chain, boltz_atom_names(molecule), molecule, BOLTZ
    )
    chai_pose = ligand_positions(chai, chai_ligand_chain, chai_atom_names(molecule), molecule, CHAI)
    rmsd = round(ligand_rmsd(molecule, boltz_pose, chai_pose @ rotation.T + translation), 3)
    confident = (
        boltz_confidence >= thresholds.boltz_confidence
        and chai_confidence >= thresholds.chai_confidence
    )
    return PoseConsensus(
        consensus_rmsd=rmsd,
        agree=bool(rmsd <= thresholds.pose_rmsd_a and confident),
        thresholds=thresholds,
        receptor_ca_rmsd=round(float(receptor_rmsd), 3),
        matched_ca=len(boltz_ca),
        rotation=tuple(tuple(float(v) for v in row) for row in rotation),
        translation=tuple(float(v) for v in translation),
    )
