"""Pose checks and interactions of a predicted structure: PoseBusters (is the pose physically
plausible) and ProLIF (what the ligand touches), run on the molecule Boltz modelled.

The ligand is rebuilt from the molecule Boltz was given (its bond orders, charges and
stereo), with the coordinates of the structure's atoms matched by name. A SMILES ligand's
atoms Boltz names element + canonical rank over the molecule with hydrogens
(`boltz/data/parse/schema.py`, `parse_boltz_schema`, ligand by `smiles`; the same rule as
`omtx_hub.receptor.smiles_atom_names`). A ligand by CCD code Boltz takes from its molecule
cache (`load_molecules` in boltz/data/mol.py: `mols/<CODE>.pkl`, an RDKit molecule with
hydrogens, each atom's CCD name in its `name` property) and models its heavy atoms under those
names (`parse_ccd_residue` in boltz/data/parse/schema.py skips the hydrogens): the same cache
molecule is its template here. The receptor is the same structure's protein chains, its
single-atom ions (metal contacts need them) and its organic cofactors given by CCD code (each
rebuilt from its cache molecule like a CCD ligand, charges as in its CCD entry), protonated as
at pH 7 (Lys, Arg charged, Asp, Glu charged, His neutral) with RDKit's hydrogens: Boltz writes
no hydrogens, and hydrogen bonds need them. A cofactor is a HETATM residue of its own chain:
PoseBusters checks it under its organic-cofactor checks, ProLIF reports it as a residue
(`C:ATP1`). Cofactors given by SMILES are left out of the receptor.

Pure functions of the structure's bytes and the molecules Boltz modelled:
`omtx_hub.pose_store` runs them in the shard job (reading the CCD molecules from Boltz's cache)
and keeps each result in the store.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from omtx_hub.records import Interaction, PoseTriage

# Part of the key of every stored result (omtx_hub.pose_store): a new checker version (another
# PoseBusters or ProLIF release, other parameters here) computes every pose again.
# pose-v2: CCD ligands checked (pose-v1 stored an error for each) and organic CCD cofactors in
# the receptor.
TRIAGE_CHECKS_VERSION = "pose-v2"

# PoseBusters' configuration for a generated pose in a receptor, without a reference pose.
POSEBUSTERS_CONFIG = "dock"
# ProLIF's interactions (prolif.Fingerprint names) and the type each is reported as: the
# ligand's side of a hydrogen bond gives its direction, the other pairs are one type each.
INTERACTION_TYPES = {
    "HBDonor": "hbond-donor",
    "HBAcceptor": "hbond-acceptor",
    "Cationic": "ionic",
    "Anionic": "ionic",
    "PiStacking": "pi-stacking",
    "CationPi": "cation-pi",
    "PiCation": "cation-pi",
    "Hydrophobic": "hydrophobic",
    "MetalDonor": "metal",
    "MetalAcceptor": "metal",
    "XBDonor": "halogen",
    "XBAcceptor": "halogen",
}
# Single-atom ions of the receptor and the charge they are given (their usual one).
ION_CHARGES = {
    "LI": 1, "NA": 1, "K": 1, "MG": 2, "CA": 2, "MN": 2, "FE": 2, "CO": 2, "NI": 2, "CU": 2,
    "ZN": 2, "CD": 2,
}  # fmt: skip
# Atoms charged at pH 7 in standard residues (the rest stay neutral; His too).
CHARGED_ATOMS = {("LYS", "NZ"): 1, ("ARG", "NH2"): 1, ("ASP", "OD2"): -1, ("GLU", "OE2"): -1}
LIGAND_RESIDUE = "LIG"
# The receptor the checkers see: the residues within this distance of the ligand (Å). Every
# check and interaction is local: PoseBusters' clash and overlap checks and ProLIF's
# interactions look at most ~6.5 Å away, so the rest of the protein only costs time.
POCKET_RADIUS_A = 10.0


class PoseError(ValueError):
    """The structure does not hold the modelled ligand as expected."""


@dataclass(frozen=True)
class Complex:
    """A predicted pose, ready for the checkers: the ligand with its hydrogens and the
    receptor with its hydrogens, as RDKit molecules with PDB residue information."""

    ligand: object  # rdkit.Chem.Mol
    receptor: object  # rdkit.Chem.Mol


def _ligand_template(smiles: str):
    """The molecule Boltz builds from `smiles`, each atom named as Boltz names it."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        raise PoseError(f"the modelled SMILES '{smiles}' does not parse (RDKit)")
    molecule = AllChem.AddHs(molecule)
    ranks = AllChem.CanonicalRankAtoms(molecule)
    for atom, rank in zip(molecule.GetAtoms(), ranks, strict=True):
        atom.SetProp("name", atom.GetSymbol().upper() + str(rank + 1))
    return molecule


def chai_atom_names(molecule) -> list[str]:
    """The names chai-lab 0.6.1 writes in its CIF for the atoms of a single SMILES ligand it
    models as `molecule` (parsed from the SMILES), in atom order: the element and its count in
    SMILES order, `_1` after (chai_lab/data/sources/rdkit.py, RefConformerGenerator.generate;
    omtx_hub.consensus's docstring)."""
    seen: Counter[str] = Counter()
    names = []
    for atom in molecule.GetAtoms():
        seen[atom.GetSymbol()] += 1
        names.append(f"{atom.GetSymbol().upper()}{seen[atom.GetSymbol()]}_1")
    return names


def _chai1_ligand_template(smiles: str):
    """The molecule chai-lab builds from `smiles`, each heavy atom named as chai-lab names it."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        raise PoseError(f"the modelled SMILES '{smiles}' does not parse (RDKit)")
    for atom, name in zip(molecule.GetAtoms(), chai_atom_names(molecule), strict=True):
        atom.SetProp("name", name)
    return AllChem.AddHs(molecule)


# How each engine names a SMILES ligand's atoms in its structures (model.engine).
LIGAND_TEMPLATES = {"boltz2": _ligand_template, "chai1": _chai1_ligand_template}


def _posed(template, atoms: Mapping[str, object], what: str):
    """The heavy atoms of `template` (each named as Boltz names it) at the positions of the
    structure's atoms `atoms` (name -> gemmi.Position) of the same names."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    heavy = Chem.RemoveHs(template)
    names = [atom.GetProp("name") for atom in heavy.GetAtoms()]
    if set(names) != set(atoms):
        raise PoseError(
            f"the {what} ({len(atoms)} atoms) are not those the engine names for its molecule "
            f"({len(names)}): not the modelled molecule"
        )
    conformer = Chem.Conformer(heavy.GetNumAtoms())
    for index, name in enumerate(names):
        position = atoms[name]
        conformer.SetAtomPosition(index, Point3D(position.x, position.y, position.z))
    heavy.RemoveAllConformers()
    heavy.AddConformer(conformer, assignId=True)
    return heavy


def _residue_info(atom, residue: str, number: int, chain: str, *, hetero: bool = False):
    from rdkit import Chem

    name = atom.GetProp("name") if atom.HasProp("name") else "H"
    info = Chem.AtomPDBResidueInfo(name, residueName=residue, residueNumber=number)
    info.SetChainId(chain)
    info.SetIsHeteroAtom(hetero)
    return info


def read_structure(structure_cif: bytes):
    """A predicted complex's mmCIF (Boltz's or another engine's) as a gemmi structure, with its
    entities set up (polymer types, for telling protein chains from ligands)."""
    import gemmi

    document = gemmi.cif.read_string(structure_cif.decode())
    structure = gemmi.make_structure_from_block(document.sole_block())
    structure.setup_entities()
    return structure


def chain_atoms(structure, chain: str) -> dict:
    """The atoms of chain `chain` in the first model, by name (a ligand chain's names are
    unique: Boltz's and Chai-1's ligand atom names)."""
    return {
        atom.name: atom
        for found in structure[0]
        if found.name == chain
        for residue in found
        for atom in residue
    }


def _ligand(structure, chain: str, template, described: str):
    """The modelled ligand (chain `chain`, molecule `template`) with the structure's
    coordinates and hydrogens placed on them."""
    from rdkit import Chem

    atoms = {name: atom.pos for name, atom in chain_atoms(structure, chain).items()}
    if not atoms:
        raise PoseError(f"the structure has no ligand chain {chain}")
    heavy = _posed(template, atoms, f"ligand atoms of chain {chain} ({described})")
    ligand = Chem.AddHs(heavy, addCoords=True)
    for atom in ligand.GetAtoms():
        atom.SetMonomerInfo(_residue_info(atom, LIGAND_RESIDUE, 1, chain))
    return heavy, ligand


def _residue_of(atom) -> tuple[str, int, str]:
    info = atom.GetPDBResidueInfo()
    return info.GetChainId(), info.GetResidueNumber(), info.GetInsertionCode()


def _joins_residues(first, second) -> bool:
    """A bond that joins two residues: the peptide bond (C-N) or a disulfide (SG-SG)."""
    names = {first.GetPDBResidueInfo().GetName().strip(), second.GetPDBResidueInfo().GetName()}
    names = {name.strip() for name in names}
    return names in ({"C", "N"}, {"SG"})


def _drop_overlong_bonds(molecule) -> None:
    """Remove, from each atom with more bonds than its valence allows, its longest bonds
    until it has no more: proximity bonding's guesses for atoms placed too close."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    positions = molecule.GetConformer().GetPositions()
    for atom in molecule.GetAtoms():
        allowed = max(table.GetValenceList(atom.GetAtomicNum())) + atom.GetFormalCharge()
        bonds = sorted(
            atom.GetBonds(),
            key=lambda bond: (
                -float(
                    np.linalg.norm(
                        positions[bond.GetBeginAtomIdx()] - positions[bond.GetEndAtomIdx()]
                    )
                )
            ),
        )
        excess = sum(bond.GetBondTypeAsDouble() for bond in bonds) - allowed
        for bond in bonds:
            if excess <= 0 or allowed < 0:
                break
            excess -= bond.GetBondTypeAsDouble()
            molecule.RemoveBond(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx())


def _distance(residue, positions: np.ndarray) -> float:
    atoms = np.array([[atom.pos.x, atom.pos.y, atom.pos.z] for atom in residue])
    return float(np.min(np.linalg.norm(atoms[:, None, :] - positions[None, :, :], axis=-1)))


def _is_ion(residue) -> bool:
    return len(residue) == 1 and residue[0].name in ION_CHARGES


def _cofactor(residue, chain: str, template):
    """A cofactor residue of the structure rebuilt from its CCD molecule `template`, a HETATM
    residue (PoseBusters' organic cofactors) of chain `chain`."""
    heavy = _posed(
        template,
        {atom.name: atom.pos for atom in residue},
        f"atoms of cofactor {residue.name} in chain {chain}",
    )
    for atom in heavy.GetAtoms():
        info = _residue_info(atom, residue.name, residue.seqid.num, chain, hetero=True)
        atom.SetMonomerInfo(info)
    return heavy


def _polymer_and_ions(receptor):
    """The protein chains and ions of `receptor` (a gemmi structure), bonded and charged
    (module docstring), without hydrogens."""
    import gemmi
    from rdkit import Chem

    pdb = receptor.make_pdb_string(gemmi.PdbWriteOptions(minimal=True))
    molecule = Chem.MolFromPDBBlock(pdb, removeHs=False, sanitize=False, proximityBonding=True)
    if molecule is None:
        raise PoseError("RDKit could not read the receptor of the structure")
    editable = Chem.RWMol(molecule)
    # Proximity bonding also bonds atoms of two residues that clash (or a crystal's
    # alternative positions): only the peptide bond and disulfides join residues.
    for bond in list(editable.GetBonds()):
        first, second = bond.GetBeginAtom(), bond.GetEndAtom()
        if _residue_of(first) != _residue_of(second) and not _joins_residues(first, second):
            editable.RemoveBond(first.GetIdx(), second.GetIdx())
    for atom in editable.GetAtoms():
        info = atom.GetPDBResidueInfo()
        residue, name = info.GetResidueName().strip(), info.GetName().strip()
        if residue == name and name in ION_CHARGES:  # an ion is a residue of one atom
            atom.SetFormalCharge(ION_CHARGES[name])
            atom.SetNoImplicit(True)
        else:
            atom.SetFormalCharge(CHARGED_ATOMS.get((residue, name), 0))
    _drop_overlong_bonds(editable)
    molecule = editable.GetMol()
    Chem.SanitizeMol(molecule)
    return molecule


def _receptor(
    structure, ligand_chain: str, ligand_positions: np.ndarray, cofactors: Mapping[str, object]
):
    """The receptor's protein chains, ions and organic cofactors (`cofactors`: chain -> its
    CCD molecule) around the ligand (its residues with an atom within POCKET_RADIUS_A of a
    ligand atom; the nearest one where none is), protonated (module docstring)."""
    from rdkit import Chem

    receptor = structure.clone()
    model = receptor[0]
    for name in [chain.name for chain in model]:
        residues = model[name]
        polymer_or_ions = all(r.het_flag != "H" or _is_ion(r) for r in residues)
        if name == ligand_chain or not (polymer_or_ions or name in cofactors):
            model.remove_chain(name)
    distances = [
        (_distance(residue, ligand_positions), chain.name, index)
        for chain in model
        for index, residue in enumerate(chain)
    ]
    if not distances:
        raise PoseError("the structure has no protein chain or ion besides the ligand")
    pocket = {(chain, index) for distance, chain, index in distances if distance <= POCKET_RADIUS_A}
    pocket = pocket or {min(distances)[1:]}
    for _, chain, index in sorted(distances, key=lambda found: -found[2]):
        if (chain, index) not in pocket:
            del model[chain][index]
    parts = []
    for chain in [chain for chain in model if chain.name in cofactors]:
        if not all(_is_ion(residue) for residue in chain):  # an ion cofactor: as the others
            parts += [_cofactor(residue, chain.name, cofactors[chain.name]) for residue in chain]
            model.remove_chain(chain.name)
    receptor.remove_empty_chains()
    if len(model):
        receptor.setup_entities()
        parts.insert(0, _polymer_and_ions(receptor))
    molecule = parts[0]
    for part in parts[1:]:
        molecule = Chem.CombineMols(molecule, part)
    return Chem.AddHs(molecule, addCoords=True, addResidueInfo=True)


def read_complex(
    structure_cif: bytes,
    smiles: str | None,
    ligand_chain: str,
    *,
    ccd_ligand=None,
    cofactors: Mapping[str, object] | None = None,
    engine: str = "boltz2",
) -> tuple[object, Complex]:
    """(the ligand's heavy atoms with bond orders and pose, the complex for ProLIF) of a
    Boltz mmCIF structure of the ligand in chain `ligand_chain`: `smiles`, or `ccd_ligand`
    (the CCD molecule of Boltz's cache that Boltz modelled for a ligand by CCD code), with
    the receptor's organic `cofactors` (chain -> CCD molecule of the cache). A Chai-1
    structure (`engine`) names a SMILES ligand's atoms as chai-lab does."""
    if ccd_ligand is not None:
        template, described = ccd_ligand, "its CCD molecule"
    elif smiles is not None:
        template, described = LIGAND_TEMPLATES[engine](smiles), f"'{smiles}'"
    else:
        raise PoseError("the modelled molecule has neither a SMILES nor a CCD molecule")
    structure = read_structure(structure_cif)
    heavy, ligand = _ligand(structure, ligand_chain, template, described)
    positions = heavy.GetConformer().GetPositions()
    receptor = _receptor(structure, ligand_chain, positions, cofactors or {})
    return heavy, Complex(ligand=ligand, receptor=receptor)


def _point_rdkit_logs_at_an_open_stream() -> None:
    """PoseBusters' `CaptureLogger` ends by pointing RDKit's log handler at whatever
    `sys.stderr` was at that moment. When that stream is closed later (pytest's per-test
    capture, a host that redirects a job's log), PoseBusters' next capture flushes the closed
    stream, the error is caught inside its energy module, and a good pose is reported as
    failing `inchi_convertible`. Assigning the stream (not `setStream`, which flushes the old
    one) puts the handler back on the live `sys.stderr`."""
    import rdkit

    if getattr(rdkit.log_handler.stream, "closed", False):
        rdkit.log_handler.stream = sys.stderr


def posebusters_failures(ligand, receptor) -> list[str]:
    """The names of PoseBusters' checks (its `dock` configuration) the pose fails."""
    from posebusters import PoseBusters

    _point_rdkit_logs_at_an_open_stream()
    report = PoseBusters(config=POSEBUSTERS_CONFIG).bust(
        mol_pred=ligand, mol_cond=receptor, full_report=False
    )
    row = report.iloc[0]
    return [str(name) for name, passed in row.items() if not bool(passed)]


def interactions(pose: Complex) -> list[Interaction]:
    """The ligand's interactions with each receptor residue (ProLIF), in residue order."""
    import prolif

    ligand = prolif.Molecule.from_rdkit(pose.ligand)
    receptor = prolif.Molecule.from_rdkit(pose.receptor)
    fingerprint = prolif.Fingerprint(list(INTERACTION_TYPES), count=True)
    contacts = fingerprint.generate(ligand, receptor, metadata=True)
    # Boltz's names of the heavy atoms; the hydrogens placed here have none of Boltz's.
    names = {
        atom.GetIdx(): atom.GetPDBResidueInfo().GetName().strip()
        for atom in pose.ligand.GetAtoms()
        if atom.GetAtomicNum() != 1
    }
    found = []
    for (_, residue), by_interaction in contacts.items():
        for interaction, hits in by_interaction.items():
            for hit in hits:
                atoms = sorted({names[i] for i in hit["parent_indices"]["ligand"] if i in names})
                found.append(
                    Interaction(
                        chain=residue.chain,
                        residue=residue.name,
                        number=int(residue.number),
                        type=INTERACTION_TYPES[interaction],
                        ligand_atoms=atoms,
                        distance=round(float(hit["distance"]), 2),
                    )
                )
    found.sort(key=lambda i: (i.chain, i.number, i.type, i.ligand_atoms, i.distance))
    # Two ProLIF interactions can be one type here (Cationic with one atom pair twice: no;
    # CationPi and PiCation on the same ring pair: yes): keep one.
    return [i for n, i in enumerate(found) if n == 0 or i != found[n - 1]]


def check_pose(
    structure_cif: bytes,
    smiles: str | None,
    ligand_chain: str,
    *,
    ccd_ligand=None,
    cofactors: Mapping[str, object] | None = None,
    engine: str = "boltz2",
) -> PoseTriage:
    """The pose checks and interactions of a target's structure (`read_complex`), or the
    reason they could not be computed (never raises for a bad structure or a checker's error:
    one target's failure is its own)."""
    started = time.process_time()
    try:
        heavy, pose = read_complex(
            structure_cif,
            smiles,
            ligand_chain,
            ccd_ligand=ccd_ligand,
            cofactors=cofactors,
            engine=engine,
        )
        failed = posebusters_failures(heavy, pose.receptor)
        found = interactions(pose)
    except Exception as error:  # recorded for this target alone (docs/reliability.md)
        return PoseTriage(
            version=TRIAGE_CHECKS_VERSION,
            error=f"{type(error).__name__}: {error}",
            cpu_s=round(time.process_time() - started, 3),
        )
    return PoseTriage(
        version=TRIAGE_CHECKS_VERSION,
        posebusters_pass=not failed,
        posebusters_failed=failed,
        interactions=found,
        cpu_s=round(time.process_time() - started, 3),
    )
