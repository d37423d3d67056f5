"""Covalent warheads: which atom of a screened molecule bonds the receptor, named as Boltz
names it.

A warhead is a SMARTS with its reacting atom (the one the receptor's nucleophile bonds)
mapped as `:1` and any leaving atom (gone in the adduct) as `:2`. Boltz 2.2.1 reads a covalent
bond as a `bond` constraint between two named atoms (`parse_boltz_schema`,
boltz/data/parse/schema.py: each atom is looked up by chain, residue and name, and the pair
becomes a COVALENT bond of the structure, a token bond in the features:
`tokenize_structure`, boltz/data/tokenize/boltz2.py, and `process_token_features`,
boltz/data/feature/featurizerv2.py). A SMILES ligand's atoms are named there as element +
(canonical rank + 1) over the molecule with hydrogens, after `standardize` when it is the
affinity ligand; `boltz_atom_names` repeats exactly those calls (tests/unit/test_warheads.py
checks it against the parser's own names).

What is modelled: the sheet's molecule as Boltz models it, bonded at the reacting atom; a
leaving atom (a chloroacetamide's Cl) is removed first, so the ligand is the adduct's
heavy atoms (Boltz models no hydrogens). The double bond of a Michael acceptor stays as
written: Boltz takes bond orders from the SMILES.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from omtx_hub.chemistry import boltz_standardize

REACTING, LEAVING = 1, 2

# Common cysteine- and serine-reactive warheads: the SMARTS, what bonds, and what leaves.
PRESETS: dict[str, tuple[str, str]] = {
    "acrylamide": (
        "[CX3:1]=[CX3]-[CX3](=O)-[NX3]",
        "Michael acceptor: the β-carbon of the C=C bonds the thiol (KRAS G12C, BTK C481, "
        "EGFR C797 inhibitors)",
    ),
    "chloroacetamide": (
        "[Cl:2]-[CH2:1]-[CX3](=O)-[NX3]",
        "SN2: the α-carbon bonds the thiol, Cl leaves (removed from the modelled ligand)",
    ),
    "vinyl_sulfonamide": (
        "[CX3:1]=[CX3]-[SX4](=O)(=O)-[NX3]",
        "Michael acceptor: the β-carbon of the C=C bonds the thiol",
    ),
    "nitrile": (
        "[CX2:1]#[NX1]",
        "reversible: the nitrile carbon bonds the thiol (thioimidate) or serine",
    ),
    "boronic_acid": (
        "[BX3:1](-[OX2])-[OX2]",
        "reversible: boron bonds the serine or threonine oxygen (tetrahedral boronate)",
    ),
}


class WarheadError(ValueError):
    """A warhead that cannot be used, or a molecule it does not match exactly once."""


@dataclass(frozen=True)
class CovalentLigand:
    """The screened molecule as Boltz gets it in a covalent screen: the SMILES written into
    its input (the adduct's, without leaving atoms) and the name Boltz gives the reacting
    atom."""

    smiles: str
    atom: str


@cache
def warhead_pattern(warhead: str):
    """The SMARTS of a preset name or of a SMARTS given as is; WarheadError when it does
    not parse or does not map exactly one reacting atom (`:1`)."""
    from rdkit import Chem, rdBase

    smarts = PRESETS[warhead][0] if warhead in PRESETS else warhead
    with rdBase.BlockLogs():
        pattern = Chem.MolFromSmarts(smarts)
    if pattern is None:
        raise WarheadError(
            f"'{warhead}' is neither a preset ({', '.join(PRESETS)}) nor a SMARTS RDKit parses"
        )
    reacting = [a for a in pattern.GetAtoms() if a.GetAtomMapNum() == REACTING]
    if len(reacting) != 1:
        raise WarheadError(
            f"SMARTS '{smarts}' maps {len(reacting)} atoms as :1; map exactly one, the atom "
            "that bonds the receptor (and leaving atoms as :2)"
        )
    return pattern


def boltz_atom_names(molecule) -> list[str]:
    """The names Boltz gives the heavy atoms of a SMILES ligand it models as `molecule`
    (parsed from the SMILES it models), in atom order: `AddHs` appends hydrogens after
    them, and each atom is named symbol + (rank + 1) from `CanonicalRankAtoms` of the
    molecule with hydrogens (`parse_boltz_schema`)."""
    from rdkit import Chem

    with_hydrogens = Chem.AddHs(molecule)
    ranks = list(Chem.CanonicalRankAtoms(with_hydrogens))
    return [
        atom.GetSymbol().upper() + str(ranks[atom.GetIdx()] + 1)
        for atom in with_hydrogens.GetAtoms()
        if atom.GetIdx() < molecule.GetNumAtoms()
    ]


def _boltz_reads(smiles: str, *, affinity: bool) -> str:
    """The SMILES `parse_boltz_schema` builds the ligand from: `standardize(smiles)` for the
    affinity ligand, else the SMILES as given."""
    return boltz_standardize(smiles) if affinity else smiles


@cache
def covalent_ligand(smiles: str, warhead: str, *, affinity: bool) -> CovalentLigand:
    """The screened molecule `smiles` (the SMILES Boltz models) in a covalent screen with
    `warhead`: WarheadError when the warhead's reacting atom is found at no atom or at more
    than one."""
    from rdkit import Chem

    pattern = warhead_pattern(warhead)
    molecule = Chem.MolFromSmiles(_boltz_reads(smiles, affinity=affinity))
    if molecule is None:
        raise WarheadError(f"SMILES '{smiles}' does not parse (RDKit)")
    reacting_at = {
        atom.GetIdx(): position
        for position, atom in enumerate(pattern.GetAtoms())
        if atom.GetAtomMapNum() == REACTING
    }
    (reacting_position,) = reacting_at.values()
    leaving_positions = [
        position
        for position, atom in enumerate(pattern.GetAtoms())
        if atom.GetAtomMapNum() == LEAVING
    ]
    matches = molecule.GetSubstructMatches(pattern, uniquify=False, maxMatches=10_000)
    found: dict[int, set[int]] = {}
    for match in matches:
        found.setdefault(match[reacting_position], set()).update(
            match[p] for p in leaving_positions
        )
    if len(found) != 1:
        described = "no atom" if not found else f"{len(found)} atoms"
        raise WarheadError(
            f"the warhead {warhead if warhead in PRESETS else repr(warhead)} matches {described} "
            "of this molecule; a covalent screen needs exactly one reacting atom per molecule "
            "(remove the row, or give `covalent.warhead` as a SMARTS that tells them apart)"
        )
    ((reacting, leaving),) = found.items()
    if not leaving:
        return CovalentLigand(smiles, boltz_atom_names(molecule)[reacting])
    adduct = Chem.RWMol(molecule)
    adduct.GetAtomWithIdx(reacting).SetIntProp("reacting", 1)
    for index in sorted(leaving, reverse=True):
        adduct.RemoveAtom(index)
    Chem.SanitizeMol(adduct)
    adduct_smiles = Chem.MolToSmiles(adduct)
    modelled = Chem.MolFromSmiles(_boltz_reads(adduct_smiles, affinity=affinity))
    # The same molecule: any match maps the reacting atom onto an atom equivalent to it.
    match = modelled.GetSubstructMatch(adduct)
    (at,) = [a.GetIdx() for a in adduct.GetAtoms() if a.HasProp("reacting")]
    return CovalentLigand(adduct_smiles, boltz_atom_names(modelled)[match[at]])


def site_problems(receptor, numbering: Mapping[str, int]) -> list[tuple[str, str]]:
    """(key below the receptor's entry, message) for a covalent site that cannot be used: a
    warhead that is not a preset and no usable SMARTS, or an atom its residue lacks (a
    standard residue's heavy atoms, `const.ref_atoms` in boltz/data/const.py; a modified
    residue's atoms are its CCD entry's, checked by Boltz). The residue is named in the
    protein's `numbering` (its `residue_numbering`), as the config writes it."""
    from boltz.data import const

    site = receptor.covalent
    if site is None:
        return []
    found = []
    try:
        warhead_pattern(site.warhead)
    except WarheadError as error:
        found.append(("covalent.warhead", str(error)))
    residue = receptor.covalent_residue()
    if residue is not None and not residue[1]:
        code = const.prot_letter_to_token.get(residue[0], "UNK")
        atoms = const.ref_atoms.get(code, [])
        if site.atom not in atoms:
            found.append(
                (
                    "covalent.atom",
                    f"residue {site.residue.residue + numbering.get(site.residue.chain, 1) - 1}"
                    f" of chain {site.residue.chain} is {code}, "
                    f"which has no atom '{site.atom}' (its atoms: {', '.join(atoms)})",
                )
            )
    return found


def row_problems(rows, warhead: str, *, affinity: bool) -> list[tuple[int, str]]:
    """(sheet line, message) for each row of a covalent screen Boltz could not bond: a row
    by CCD code (its atoms are named by the CCD; write it as SMILES), or one whose molecule
    the warhead matches at no atom or at several. `rows`: (line, modelled SMILES, CCD code
    or None) each."""
    found = []
    for line, smiles, ccd in rows:
        if ccd:
            found.append(
                (
                    line,
                    f"CCD code {ccd}: a covalent screen takes molecules by SMILES, whose "
                    "reacting atom it finds; write the row's SMILES",
                )
            )
            continue
        try:
            covalent_ligand(smiles, warhead, affinity=affinity)
        except WarheadError as error:
            found.append((line, str(error)))
    return found
