"""The molecule Boltz models, made from a sheet's SMILES before any GPU time is spent.

Boltz 2.2.1 does not model the SMILES it is given as written. For the affinity ligand,
`parse_boltz_schema` (boltz/data/parse/schema.py) first replaces it with
`standardize(smiles)`: ChEMBL's `exclude_flag` (metals, more than 7 boron atoms: "Molecule is
excluded"), RDKit's `LargestFragmentChooser`, ChEMBL's `standardize_mol` (charges neutralised,
functional groups redrawn), a re-parse check. Then, for every SMILES ligand, it adds
hydrogens, names each atom element + (canonical rank + 1) and fails on a name longer than
4 characters, embeds a conformer, and with affinity fails above 128 atoms after
`RemoveHs(sanitize=False)` (deuterium stays and counts) and warns above 56. Its residue
(`parse_ccd_residue`) keeps only the atoms heavier than hydrogen: a molecule without one
becomes a ligand of no atom, which Boltz predicts and then fails to write (the mmCIF
writer's `ValueError`); a molecule of one heavy atom takes the single-atom path, which models
the first atom `RemoveHs` leaves, and that can be a deuterium (heavy water is modelled as
one hydrogen atom). Both are refused (`boltz_atom_check`).

`prepare_ligand` does the same here, calling Boltz's own `standardize` so that the two cannot
drift, and returns the SMILES Boltz will model (`modeled_smiles`, written into Boltz's input
as is: `standardize` gives it back unchanged), what changed and why, and the out-of-domain
flags; a molecule Boltz would fail on is refused with the reason. Salts and mixtures are
reduced to one molecule first (`salts: strip`), because Boltz's own largest-fragment step
crashes on multi-fragment SMILES with the pinned RDKit ("Pre-condition Violation").
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from itertools import pairwise, repeat
from multiprocessing import get_context

from rdkit import Chem, RDLogger
from rdkit.Chem import rdqueries
from rdkit.Chem.MolStandardize import rdMolStandardize
from rdkit.Chem.rdMolDescriptors import CalcMolFormula

from omtx_hub.result_tables import (
    FLAG_ENHANCED_STEREO,
    FLAG_LARGE,
    FLAG_MIXTURE,
    FLAG_UNDEFINED_STEREO,
    MAX_TRAINING_ATOMS,
)
from omtx_hub.source_functions import own_function

# Boltz-2's affinity limits (boltz/data/parse/schema.py, parse_boltz_schema): an error above
# 128 atoms, a warning above MAX_TRAINING_ATOMS ("the maximum during training").
MAX_AFFINITY_ATOMS = 128
# Boltz names a ligand atom element + (canonical rank + 1) and refuses names over 4 characters.
MAX_ATOM_NAME_LENGTH = 4
# Below this many atoms (hydrogens included) no name can be longer than 4 characters (two
# letters, two digits).
NAMED_ATOMS_LIMIT = 100
# Rounds of Boltz's standardisation until its output is its own fixed point.
MAX_STANDARDISATION_ROUNDS = 3

# Below this many SMILES per worker process, validation runs in this process: a pool of
# workers takes about 0.4 s to start (spawn, imports), and two workers on 5,000 SMILES
# gained only 10-15% on a busy 2-core machine (2026-12-05).
SMILES_PER_WORKER = 5000
# The SMILES of one task given to a worker process: what a worker holds at once (the
# task's SMILES, their molecules while each is prepared, the task's results) does not grow
# with the sheet, and a task's pickling costs about 1% of its validation (about 1.5 s of CPU).
SMILES_PER_TASK = 2000
# Worker processes are replaced by fresh ones after this many tasks each (100,000 SMILES, a
# 0.4 s start per 75 s of validation), so that what RDKit or Python keep after a task does
# not add up over a sheet of millions. (A new pool per round of tasks: Python 3.11's
# `max_tasks_per_child` can leave ProcessPoolExecutor waiting forever, CPython gh-115634.)
TASKS_PER_WORKER = 50


class LigandProblem(ValueError):
    """A SMILES that Boltz cannot model as given, with the reason and what to do."""


@dataclass(frozen=True, slots=True)
class PreparedLigand:
    """A sheet SMILES and the molecule Boltz models for it."""

    canonical_smiles: str  # RDKit canonical SMILES of the input, every fragment
    modeled_smiles: str  # what Boltz sees and models
    heavy_atoms: int  # of the modelled molecule
    standardisation: tuple[str, ...]  # what changed between the input and the model
    flags: tuple[str, ...]  # codes of result_tables.LIGAND_FLAGS


@dataclass(frozen=True)
class _Fragment:
    molecule: Chem.Mol
    smiles: str
    # The counter-ion or solvent it is in ChEMBL's lists, as (kind, name), or None.
    known_as: tuple[str, str] | None


# Where Boltz defines the standardisation it applies to the affinity ligand.
BOLTZ_STANDARDIZE = ("boltz.data.parse.schema", "standardize")


@cache
def _boltz_standardize():
    """Boltz's own `standardize` (`BOLTZ_STANDARDIZE`): its code, from Boltz's installed
    source, with the very objects its module binds to the names it uses (`own_function`).
    Importing the module itself would import torch and scikit-learn, which `standardize`
    never uses: 1.5 s and 300 MB in each process that validates SMILES."""
    function = own_function(*BOLTZ_STANDARDIZE)
    if function is not None:
        return function
    # Boltz's module as a whole. It imports scikit-learn, which sets OpenMP variables
    # (KMP_*) in os.environ; planning leaves the environment that its jobs inherit as it
    # found it.
    environment = dict(os.environ)
    module = importlib.import_module(BOLTZ_STANDARDIZE[0])
    for name in set(os.environ) - set(environment):
        del os.environ[name]
    os.environ.update(environment)
    return getattr(module, BOLTZ_STANDARDIZE[1])


def boltz_standardize(smiles: str) -> str:
    """Boltz's `standardize` of one SMILES, once, as `parse_boltz_schema` applies it to the
    affinity ligand (omtx_hub.warheads names the atoms of what it returns)."""
    return _boltz_standardize()(smiles)


def _display_name(name: str) -> str:
    """ChEMBL's list names ('Mesylate', 'WATER', 'Maleate and Fumarate') as prose."""
    if name.isupper() and len(name) <= 4:  # an abbreviation: EDTA, DMSO
        return name
    return name.lower().replace(" and ", "/")


@cache
def _known_fragments() -> dict[tuple[int, int], list[tuple[str, str, Chem.Mol]]]:
    """ChEMBL structure pipeline's solvent and salt lists (the ones its get_parent uses), by
    (atoms, bonds): a fragment is one of them when it has as many atoms and bonds and matches
    the pattern, as in `chembl_structure_pipeline.standardizer.get_fragment_parent_mol`."""
    data = files("chembl_structure_pipeline") / "data"
    known: dict[tuple[int, int], list[tuple[str, str, Chem.Mol]]] = {}
    for kind, file_name in (("solvent", "solvents.smi"), ("counter-ion", "salts.smi")):
        for line in (data / file_name).read_text().splitlines():
            fields = line.strip().split("\t")
            if line.startswith("#") or len(fields) != 2:
                continue
            pattern = Chem.MolFromSmarts(fields[1])
            size = (pattern.GetNumAtoms(), pattern.GetNumBonds())
            known.setdefault(size, []).append((kind, _display_name(fields[0]), pattern))
    return known


def _known_as(fragment: Chem.Mol) -> tuple[str, str] | None:
    size = (fragment.GetNumAtoms(), fragment.GetNumBonds())
    for kind, name, pattern in _known_fragments().get(size, ()):
        if fragment.HasSubstructMatch(pattern):
            return kind, name
    return None


def _fragments(molecule: Chem.Mol) -> list[_Fragment]:
    return [
        _Fragment(fragment, Chem.MolToSmiles(fragment), _known_as(fragment))
        for fragment in Chem.GetMolFrags(molecule, asMols=True)
    ]


@dataclass(frozen=True)
class _Stripped:
    """A salt or mixture reduced to its parent."""

    parent: Chem.Mol
    parent_smiles: str
    removed: list[str]  # what was removed, in words
    unknown_removed: bool  # a fragment that is no known counter-ion or solvent


def _strip_fragments(fragments: list[_Fragment]) -> _Stripped:
    """The parent of a multi-fragment molecule and what was removed.

    ChEMBL's rule (get_fragment_parent_mol) picks the candidates: the fragments that are
    neither solvents nor counter-ions; if there are none, the non-solvents; if none, all.
    Of those, RDKit's LargestFragmentChooser (organic fragments first) keeps one.
    """
    candidates = [f for f in fragments if f.known_as is None]
    candidates = candidates or [f for f in fragments if f.known_as[0] != "solvent"] or fragments
    parent = candidates[0]
    if len(candidates) > 1:
        combined = candidates[0].molecule
        for fragment in candidates[1:]:
            combined = Chem.CombineMols(combined, fragment.molecule)
        chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
        chosen = Chem.MolToSmiles(chooser.choose(combined))
        parent = next(f for f in candidates if f.smiles == chosen)
    removed: Counter[str] = Counter()
    unknown_removed = False
    for fragment in fragments:
        if fragment is parent:
            continue
        if fragment.smiles == parent.smiles:
            removed["extra copy of the parent removed"] += 1
        elif fragment.known_as is not None:
            kind, name = fragment.known_as
            removed[f"{kind} removed: {name}"] += 1
        else:
            formula = CalcMolFormula(fragment.molecule)
            removed[f"fragment removed: {formula} ({fragment.smiles})"] += 1
            unknown_removed = True
    described = [f"{what} ×{count}" if count > 1 else what for what, count in removed.items()]
    return _Stripped(parent.molecule, parent.smiles, described, unknown_removed)


@cache
def _metal_pattern() -> Chem.Mol:
    """Any atom of ChEMBL exclude_flag's metal list, as one query."""
    from chembl_structure_pipeline.exclude_flag import METAL_LIST

    table = Chem.GetPeriodicTable()
    numbers = sorted(table.GetAtomicNumber(symbol) for symbol in METAL_LIST)
    return Chem.MolFromSmarts(f"[{','.join(f'#{number}' for number in numbers)}]")


def _metals(molecule: Chem.Mol) -> list[str]:
    """The elements of `molecule` that ChEMBL's exclude_flag counts as metals."""
    matches = molecule.GetSubstructMatches(_metal_pattern())
    return sorted({molecule.GetAtomWithIdx(index).GetSymbol() for (index,) in matches})


def _metal_complex_in_pieces(fragments: list[_Fragment]) -> str | None:
    """The metal of a multi-fragment molecule whose metal sits in a fragment that is no known
    counter-ion (a complex written as separate ions, e.g. ferrocene as Fe2+ and two Cp-,
    cisplatin as PtCl2 and two NH3): keeping one fragment would break the complex."""
    for fragment in fragments:
        metals = _metals(fragment.molecule)
        if metals and fragment.known_as is None:
            return f"{', '.join(metals)} in {fragment.smiles}"
    return None


def _charges(molecule: Chem.Mol) -> tuple[int, int]:
    """(atoms with a formal charge, net charge)."""
    charges = [atom.GetFormalCharge() for atom in molecule.GetAtoms()]
    return sum(charge != 0 for charge in charges), sum(charges)


def _skeleton(molecule: Chem.Mol) -> str:
    """The molecule's atoms and bond orders without charges, hydrogens or stereo: equal for
    two protonation states of one compound, different when a functional group is redrawn."""
    bare = Chem.RWMol(molecule)
    for atom in bare.GetAtoms():
        atom.SetFormalCharge(0)
        atom.SetNumExplicitHs(0)
        atom.SetNoImplicit(True)
    return Chem.MolToSmiles(bare, isomericSmiles=False)


def describe_changes(before: Chem.Mol, after: Chem.Mol) -> list[str]:
    """What Boltz's standardisation changed, in words: 'functional group normalised',
    'neutralised', 'charge changed', 'stereo changed' (or 'hydrogens changed')."""
    if Chem.MolToSmiles(before) == Chem.MolToSmiles(after):
        return []
    (charged_before, net_before), (charged_after, net_after) = _charges(before), _charges(after)
    changes = []
    if _skeleton(before) != _skeleton(after):
        changes.append("functional group normalised")
        if abs(net_after) < abs(net_before):
            changes.append("neutralised")
    elif (charged_before, net_before) != (charged_after, net_after):
        neutralised = charged_after < charged_before and abs(net_after) <= abs(net_before)
        changes.append("neutralised" if neutralised else "charge changed")
    flat_before = Chem.MolToSmiles(before, isomericSmiles=False)
    if flat_before == Chem.MolToSmiles(after, isomericSmiles=False):
        changes.append("stereo changed")
    return changes or ["hydrogens changed"]


def _exclusion_reason(molecule: Chem.Mol) -> str:
    """Why ChEMBL's exclude_flag (Boltz's first step for the affinity ligand) refuses it."""
    metals = _metals(molecule)
    borons = sum(atom.GetSymbol() == "B" for atom in molecule.GetAtoms())
    reasons = [f"it contains {', '.join(metals)} (a metal)"] if metals else []
    if borons > 7:
        reasons.append(f"it has {borons} boron atoms (more than 7)")
    because = " and ".join(reasons) or "ChEMBL's exclusion rules apply"
    return (
        "Boltz-2 refuses it as an affinity ligand: ChEMBL's exclude_flag, the first step of "
        f"boltz.data.parse.schema.standardize, excludes it because {because}. Remove it, or "
        "screen it with model.affinity: false (structure only)"
    )


def _boltz_standardised(smiles: str, molecule: Chem.Mol) -> str:
    """Boltz's standardize applied until it returns its input (its output is what Boltz
    models, and Boltz standardises again what it is given)."""
    standardize = _boltz_standardize()
    seen = [smiles]
    for _ in range(MAX_STANDARDISATION_ROUNDS):
        try:
            result = standardize(seen[-1])
        except ValueError as error:
            if "excluded" in str(error):
                raise LigandProblem(_exclusion_reason(molecule)) from None
            raise LigandProblem(
                f"Boltz's standardisation (boltz.data.parse.schema.standardize) fails: {error}"
            ) from None
        except Exception as error:  # e.g. RDKit's own failures inside the ChEMBL pipeline
            raise LigandProblem(
                "Boltz's standardisation (boltz.data.parse.schema.standardize) fails: "
                f"{_first_line(error)}"
            ) from None
        if result == seen[-1]:
            return result
        seen.append(result)
    raise LigandProblem(
        "Boltz's standardisation does not settle: it changes its own output again "
        f"({' -> '.join(seen)}); Boltz would model something else than reported"
    )


# Why Boltz cannot model a molecule without heavy atoms (module docstring).
NO_HEAVY_ATOM = (
    "Boltz models only atoms heavier than hydrogen (boltz.data.parse.schema.parse_ccd_residue "
    "skips hydrogen, deuterium and tritium), so it would predict a ligand of no atom and fail "
    "writing its structure; remove it"
)
# Why a one-heavy-atom molecule may be modelled as a hydrogen (module docstring).
SINGLE_ATOM_PATH = (
    "Boltz models a one-heavy-atom ligand as the first atom RemoveHs leaves "
    "(boltz.data.parse.schema.parse_ccd_residue), and RemoveHs keeps isotopic hydrogens"
)


def _modelled_atoms_check(molecule: Chem.Mol, kept_atoms: int) -> None:
    """The atoms Boltz's residue of a SMILES ligand keeps (`parse_ccd_residue`, module
    docstring) are the molecule's: refuses a molecule that has no heavy atom, or one heavy
    atom and hydrogens `RemoveHs` keeps (`kept_atoms` counts them too): which atom comes
    first depends on how the SMILES is written, so any such molecule may be modelled as a
    hydrogen."""
    heavy_atoms = molecule.GetNumHeavyAtoms()
    if heavy_atoms == 0:
        raise LigandProblem(
            f"the molecule Boltz models, {Chem.MolToSmiles(molecule)!r}, has no heavy atom: "
            f"{NO_HEAVY_ATOM}"
        )
    if heavy_atoms == 1 and kept_atoms > 1:
        raise LigandProblem(
            f"the molecule Boltz models, {Chem.MolToSmiles(molecule)!r}, has one heavy atom "
            f"and isotopic hydrogens (deuterium, tritium): {SINGLE_ATOM_PATH}, so it may "
            "model a hydrogen; write it without isotope labels ('O' for heavy water): Boltz "
            "models no hydrogen in any case"
        )


def ccd_atoms_check(code: str, molecule: Chem.Mol) -> None:
    """Boltz models a CCD ligand from its cache molecule as it is (`parse_ccd_residue`):
    refuses one with no heavy atom, or with one heavy atom that Boltz would model as the
    hydrogen that comes first in the molecule."""
    heavy_atoms = molecule.GetNumHeavyAtoms()
    if heavy_atoms == 0:
        raise LigandProblem(f"column 'ccd': {code} has no heavy atom: {NO_HEAVY_ATOM}")
    if heavy_atoms > 1:
        return
    first = Chem.RemoveHs(molecule, sanitize=False).GetAtomWithIdx(0)
    if first.GetAtomicNum() == 1:
        raise LigandProblem(
            f"column 'ccd': {code} has one heavy atom and its first atom is a hydrogen "
            f"({first.GetSymbol()}, isotope {first.GetIsotope()}): {SINGLE_ATOM_PATH}, so "
            "Boltz would model that hydrogen; give the molecule as SMILES without isotope "
            "labels"
        )


def _boltz_atoms_with_hydrogens(molecule: Chem.Mol) -> int:
    """Boltz's atom count of a SMILES ligand, made as Boltz makes it: its hydrogens added
    (AddHs), each atom named (element + canonical rank + 1, refused over
    MAX_ATOM_NAME_LENGTH characters), then RemoveHs(sanitize=False)'s atoms counted."""
    with_hydrogens = Chem.AddHs(molecule)
    if with_hydrogens.GetNumAtoms() >= NAMED_ATOMS_LIMIT:
        ranks = Chem.CanonicalRankAtoms(with_hydrogens)
        for atom, rank in zip(with_hydrogens.GetAtoms(), ranks, strict=True):
            name = atom.GetSymbol().upper() + str(rank + 1)
            if len(name) > MAX_ATOM_NAME_LENGTH:
                raise LigandProblem(
                    f"Boltz cannot name its atoms: it names each atom by element and canonical "
                    f"rank counting hydrogens ({with_hydrogens.GetNumAtoms()} atoms here), and "
                    f"'{name}' is longer than {MAX_ATOM_NAME_LENGTH} characters "
                    "(boltz.data.parse.schema.parse_boltz_schema); Boltz cannot model this "
                    "molecule, remove it"
                )
    return Chem.RemoveHs(with_hydrogens, sanitize=False).GetNumAtoms()


def _only_added_hydrogens_removed(molecule: Chem.Mol) -> bool:
    """Whether RemoveHs(AddHs(molecule), sanitize=False) leaves exactly the molecule's own
    atoms, without making either. True when the molecule has no hydrogen atom of its own, so
    that every hydrogen is one AddHs adds (neutral, unlabelled, unmapped, bonded to one heavy
    atom by a plain bond: RemoveHs's defaults remove each such hydrogen), and no chiral tag
    but a tetrahedral one (RemoveHs keeps a hydrogen on a square-planar, trigonal-bipyramidal
    or octahedral centre: `RemoveHsParameters.removeNontetrahedralNeighbors` is False).
    tests/unit/test_chemistry.py compares the two ways on molecules of each kind."""
    if molecule.GetAtomsMatchingQuery(_HYDROGEN_ATOM):
        return False
    tagged = molecule.GetAtomsMatchingQuery(_CHIRAL_TAGGED_ATOM)
    return all(atom.GetChiralTag() in _TETRAHEDRAL for atom in tagged)


def boltz_atom_check(molecule: Chem.Mol, *, affinity: bool) -> int:
    """Boltz's checks of a SMILES ligand (parse_boltz_schema), made the way Boltz makes them;
    returns Boltz's atom count (atoms left by RemoveHs(sanitize=False): heavy atoms and
    hydrogens RemoveHs keeps, such as deuterium). Raises LigandProblem."""
    # Below NAMED_ATOMS_LIMIT atoms with hydrogens (AddHs adds each atom's hydrogens, which
    # GetNumAtoms(onlyExplicit=False) counts) no name can be too long; and a molecule whose
    # added hydrogens RemoveHs all removes keeps its own atoms. Most drug-like molecules are
    # both, and are counted without AddHs and RemoveHs (60 µs of a molecule's 0.8 ms).
    if molecule.GetNumAtoms(
        onlyExplicit=False
    ) < NAMED_ATOMS_LIMIT and _only_added_hydrogens_removed(molecule):
        atoms = molecule.GetNumAtoms()
    else:
        atoms = _boltz_atoms_with_hydrogens(molecule)
    _modelled_atoms_check(molecule, atoms)
    if affinity and atoms > MAX_AFFINITY_ATOMS:
        hydrogens = atoms - molecule.GetNumHeavyAtoms()
        kept = f", of them {hydrogens} isotopic hydrogens such as deuterium" if hydrogens else ""
        raise LigandProblem(
            f"{atoms} atoms as Boltz counts them{kept}: Boltz-2 affinity accepts at most "
            f"{MAX_AFFINITY_ATOMS}; drop it or set model.affinity: false"
        )
    return atoms


def _has_enhanced_stereo(molecule: Chem.Mol) -> bool:
    groups = molecule.GetStereoGroups()
    if not len(groups):  # iterating the groups costs 7 µs even when there are none
        return False
    absolute = Chem.StereoGroupType.STEREO_ABSOLUTE
    return any(group.GetGroupType() != absolute for group in groups)


def _has_undefined_stereo(molecule: Chem.Mol) -> bool:
    return any(
        info.specified == Chem.StereoSpecified.Unspecified
        for info in Chem.FindPotentialStereo(molecule)
    )


# A SMILES, optionally followed by one CXSMILES extension block (`CC[C@H](O)C |&1:2|`).
_ONE_SMILES = re.compile(r"\S+(?: \|[^|\s]*\|)?")


# Atoms of atomic number 0, found by RDKit itself (a tenth of the time of a Python loop).
_DUMMY_ATOM = rdqueries.AtomNumEqualsQueryAtom(0)
# Hydrogen atoms of a molecule's own graph (isotopes, hydrides, H2 and the like included).
_HYDROGEN_ATOM = rdqueries.AtomNumEqualsQueryAtom(1)
# Atoms with a chiral tag, and the tags RemoveHs removes a hydrogen neighbour of.
_CHIRAL_TAGGED_ATOM = rdqueries.HasChiralTagQueryAtom()
_TETRAHEDRAL = frozenset({Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW})
# Carbon atoms: a fragment with one is organic, as RDKit's LargestFragmentChooser
# (preferOrganic) tells fragments apart when it keeps one ('C.[Br-]' keeps 'C').
_CARBON_ATOM = rdqueries.AtomNumEqualsQueryAtom(6)


def _only_inorganic(smiles: str, fragments: list[_Fragment], kept: str) -> LigandProblem:
    """A salt or mixture with no organic fragment (`[Na+].[Cl-]`): every fragment is an
    inorganic ion or molecule, so none is the compound the others are counter-ions of, and
    stripping would keep one by RDKit's largest-fragment rule alone."""
    return LigandProblem(
        f"SMILES {smiles!r} is only inorganic ions or molecules "
        f"({', '.join(fragment.smiles for fragment in fragments)}: no fragment has a carbon "
        f"atom), so no fragment is the compound the others are counter-ions of; "
        f"ligands.salts: strip would model {kept!r} alone, RDKit's largest fragment. Write "
        f"the ion or molecule you mean to screen alone (e.g. {kept!r}), or remove the row"
    )


def _without_dummy_atoms(molecule: Chem.Mol, smiles: str) -> Chem.Mol:
    if molecule.GetAtomsMatchingQuery(_DUMMY_ATOM):
        raise LigandProblem(
            f"SMILES {smiles!r} has a dummy atom ('*': an R-group or attachment point), which "
            "is no element; Boltz would model it as an atom of element 0. Write the whole "
            "molecule"
        )
    return molecule


def _parsed(smiles: str, *, affinity: bool) -> Chem.Mol:
    if not smiles:
        raise LigandProblem("the smiles cell is empty")
    if not _ONE_SMILES.fullmatch(smiles):
        # RDKit would read the first word and take the rest for the molecule's name.
        raise LigandProblem(
            f"the smiles cell {smiles!r} holds a space or line break: RDKit would read only "
            f"{smiles.split()[0]!r} and take the rest for a name; one SMILES per cell (a "
            "CXSMILES extension follows it after one space: 'C[C@H](F)Cl |&1:1|')"
        )
    molecule = Chem.MolFromSmiles(smiles)
    if molecule is not None:
        return _without_dummy_atoms(molecule, smiles)
    unsanitized = Chem.MolFromSmiles(smiles, sanitize=False)
    if unsanitized is None:
        raise LigandProblem(f"invalid SMILES {smiles!r} (RDKit cannot parse it)")
    from chembl_structure_pipeline.exclude_flag import exclude_flag

    if affinity and exclude_flag(unsanitized, includeRDKitSanitization=False):
        raise LigandProblem(_exclusion_reason(unsanitized))
    try:
        Chem.SanitizeMol(unsanitized)
    except Exception as error:  # RDKit raises several kinds, all with a message
        raise LigandProblem(f"invalid SMILES {smiles!r} (RDKit: {error})") from None
    raise LigandProblem(f"invalid SMILES {smiles!r} (RDKit cannot parse it)")


def prepare_ligand(smiles: str, *, affinity: bool, salts: str = "strip") -> PreparedLigand:
    """The molecule Boltz models for `smiles`, or LigandProblem saying why it cannot.

    `salts`: 'strip' reduces salts and mixtures to their parent (`_strip_fragments`),
    'reject' refuses any SMILES of several fragments. With `affinity`, Boltz standardises
    the molecule (as Boltz does for the affinity ligand); without, Boltz models it as given.
    """
    molecule = _parsed(smiles, affinity=affinity)
    canonical = Chem.MolToSmiles(molecule)
    changes: list[str] = []
    flags: list[str] = []
    parent, parent_smiles = molecule, canonical
    if len(Chem.GetMolFrags(molecule)) > 1:
        if salts == "reject":
            raise LigandProblem(
                f"SMILES {smiles!r} has several disconnected fragments; Boltz needs one "
                "molecule: remove salts and counter-ions, or set ligands.salts: strip"
            )
        fragments = _fragments(molecule)
        metal = _metal_complex_in_pieces(fragments)
        if metal:
            refused = (
                "; Boltz-2 refuses metal complexes as affinity ligands in any case (ChEMBL's "
                "exclude_flag in boltz.data.parse.schema.standardize)"
                if affinity
                else ""
            )
            raise LigandProblem(
                f"a metal complex written as separate fragments ({metal}): keeping one "
                f"fragment would break it; write it as one connected molecule, or remove "
                f"it{refused}"
            )
        stripped = _strip_fragments(fragments)
        if not molecule.GetAtomsMatchingQuery(_CARBON_ATOM):
            raise _only_inorganic(smiles, fragments, stripped.parent_smiles)
        parent, parent_smiles = stripped.parent, stripped.parent_smiles
        changes = list(stripped.removed)
        if stripped.unknown_removed:
            flags.append(FLAG_MIXTURE)
    modeled_smiles, modeled = parent_smiles, parent
    if affinity:
        modeled_smiles = _boltz_standardised(parent_smiles, parent)
        if modeled_smiles != parent_smiles:
            modeled = Chem.MolFromSmiles(modeled_smiles)
            changes += describe_changes(parent, modeled)
    boltz_atoms = boltz_atom_check(modeled, affinity=affinity)
    if affinity and boltz_atoms > MAX_TRAINING_ATOMS:
        flags.append(FLAG_LARGE)
    if _has_undefined_stereo(modeled):
        flags.append(FLAG_UNDEFINED_STEREO)
    if _has_enhanced_stereo(molecule):
        flags.append(FLAG_ENHANCED_STEREO)
    return PreparedLigand(
        canonical_smiles=canonical,
        modeled_smiles=modeled_smiles,
        heavy_atoms=modeled.GetNumHeavyAtoms(),
        standardisation=tuple(changes),
        flags=tuple(sorted(flags)),
    )


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def validate_molecule(smiles: str, affinity: bool, salts: str) -> PreparedLigand | LigandProblem:
    """`prepare_ligand` of one SMILES, its problem returned rather than raised: what a worker
    process does per molecule (any RDKit failure becomes the molecule's problem, so one odd
    molecule never hides the sheet's others)."""
    try:
        return prepare_ligand(smiles, affinity=affinity, salts=salts)
    except LigandProblem as problem:
        return problem
    except Exception as error:
        return LigandProblem(f"RDKit failed on it ({type(error).__name__}: {_first_line(error)})")


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _prepare_each(
    smiles: Sequence[str], affinity: bool, salts: str
) -> list[PreparedLigand | LigandProblem]:
    RDLogger.DisableLog("rdApp.*")  # problems are returned, per SMILES
    try:
        return [validate_molecule(cell, affinity, salts) for cell in smiles]
    finally:
        RDLogger.EnableLog("rdApp.*")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or `taskset`
    limits it), not the machine's count."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def validation_workers(distinct: int) -> int:
    """How many worker processes validate `distinct` SMILES: one per available core, each
    with at least SMILES_PER_WORKER of them; 0 or 1: in this process."""
    return min(available_cores(), distinct // SMILES_PER_WORKER)


def _distinct(smiles: Sequence[str]) -> Sequence[str]:
    """`smiles` without repeats, in the order of first appearance: `smiles` itself when none
    repeats. Repeats are looked for by sorting: a hash table of a large sheet's SMILES, made
    and freed here, left the planning process 10 MB larger at its peak (glibc's malloc raises
    its mmap threshold when such a block is freed)."""
    ordered = sorted(smiles)
    if all(one != other for one, other in pairwise(ordered)):
        return smiles
    return list(dict.fromkeys(smiles))


def _prepare_in_workers(
    tasks: list[Sequence[str]], workers: int, affinity: bool, salts: str
) -> list[PreparedLigand | LigandProblem]:
    """`_prepare_each` of each task in a new pool of up to `workers` processes; the results
    in order."""
    # spawn, not fork: the planning process may be Snakemake's, with threads of its own.
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=get_context("spawn")) as pool:
        parts = pool.map(_prepare_each, tasks, repeat(affinity), repeat(salts))
        return [result for part in parts for result in part]


def prepare_ligands(
    smiles: Sequence[str], *, affinity: bool, salts: str, workers: int | None = None
) -> list[PreparedLigand | LigandProblem]:
    """`validate_molecule` of each SMILES (the result or its problem), in order.

    Each distinct SMILES is prepared once (a sheet that repeats a compound gets the same
    result on each of its rows). Large sheets are spread over `workers` processes (default:
    `validation_workers`, one per available core), in tasks of SMILES_PER_TASK SMILES, the
    workers replaced after TASKS_PER_WORKER tasks each; the results come back in order. A
    drug-like molecule takes about 0.75 ms of CPU, 0.53 ms of it Boltz's standardisation
    (benchmarks/validation_scale.py, benchmarks/plan_scale.py).
    """
    distinct = _distinct(smiles)
    if workers is None:
        workers = validation_workers(len(distinct))
    if workers <= 1:
        prepared = _prepare_each(distinct, affinity, salts)
    else:
        tasks = [
            distinct[start : start + SMILES_PER_TASK]
            for start in range(0, len(distinct), SMILES_PER_TASK)
        ]
        per_round = workers * TASKS_PER_WORKER
        prepared = []
        for first in range(0, len(tasks), per_round):
            prepared += _prepare_in_workers(
                tasks[first : first + per_round], workers, affinity, salts
            )
    if len(distinct) == len(smiles):
        return prepared
    by_smiles = dict(zip(distinct, prepared, strict=True))
    return [by_smiles[cell] for cell in smiles]
