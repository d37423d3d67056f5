"""A deterministic library of distinct, drug-like SMILES for scale benchmarks, up to 10^7.

The first AMIDE_COUNT compounds are amides R1-C(=O)N(H)-R2 from real medicinal-chemistry
building blocks (aryl and heteroaryl acids, amines), decorated with common substituents,
deduplicated after canonicalisation: the sheets every recorded benchmark number was measured
on, unchanged.

After them come secondary sulfonamides A-S(=O)(=O)-NH-B, the sulfonyl chloride + amine
coupling: A from SULFONYL_CORES, B from AMINE_CORES, each with up to two substituents from
DECORATIONS on its aromatic carbons (`_fragments`). They are distinct by construction, so a
stream of 10^7 holds no set of SMILES:
- each side's list holds each fragment once (deduplicated by canonical SMILES with the
  attachment point as a dummy atom, a few thousand per side, once per process), and no
  fragment has a sulfur-nitrogen bond, so a product's one S-N bond is its linkage: cutting it
  gives back A (on the sulfur's side) and B (on the nitrogen's), and two products are the
  same molecule only if both fragments are;
- the index maps to a pair of fragments one to one (Chinese remainder theorem: the two list
  lengths are coprime), so both sides change from one compound to the next;
- no amide has an S-N bond whose nitrogen bonds a carbon (the one S-N bond among their
  building blocks is a primary sulfonamide, -S(=O)(=O)NH2), every sulfonamide has one.
Every fragment is checked with RDKit with its attachment point, so a product (the dummy atom
replaced by the linkage's S or N, a single bond either way) is valid; at most
MAX_FRAGMENT_ATOMS heavy atoms a side and no stereocentre keep every product under Boltz's
training size (no heavy-atoms flag) and without stereo flags.

    python benchmarks/ligand_library.py 100000 > ligands.csv
"""

from __future__ import annotations

import itertools
import sys
from functools import cache

# Fragment SMILES, tables of literals (fmt: skip keeps them a few to a line).
ACIDS = [
    "c1ccccc1", "c1ccncc1", "c1cccnc1", "c1ccc2ccccc2c1", "c1ccoc1", "c1ccsc1", "c1cnccn1",
    "c1ccc2[nH]ccc2c1", "c1ccc2occc2c1", "c1ncncc1", "C1CCCCC1", "C1CCOCC1", "c1cn[nH]c1",
    "c1cscn1", "c1ccc2ncccc2c1", "C1CC1", "c1ccc(-c2ccccc2)cc1", "c1ccc2c(c1)OCO2",
    "c1cc2ccccc2s1", "C1CCN(C(=O)OC(C)(C)C)CC1",
]  # fmt: skip
AMINES = [
    "c1ccccc1", "Cc1ccccc1", "c1ccc(F)cc1", "c1ccc(Cl)cc1", "c1ccc(OC)cc1", "c1ccncc1",
    "Cc1ccncc1", "C1CCCCC1", "CC(C)C", "CCN(C)C", "C1CCN(C)CC1", "C1COCCN1", "Cc1ccco1",
    "c1ccc2c(c1)CCC2", "CC1(C)CC1", "c1cnn(C)c1", "c1ccc(C(F)(F)F)cc1", "Cc1nccs1",
    "C1CC(O)C1", "c1ccc(S(=O)(=O)N)cc1", "c1ccc(C#N)cc1", "CCOC(=O)c1ccccc1",
    "c1ccc2[nH]ncc2c1", "CC(C)(C)c1ccccc1", "c1cc(F)c(F)cc1",
]  # fmt: skip
DECORATIONS = ["", "F", "Cl", "C", "OC", "C(F)(F)F", "C#N", "O", "N(C)C", "CC", "Br",
               "S(C)(=O)=O", "C(N)=O", "OC(F)(F)F", "C1CC1", "N1CCOCC1", "c1ccccc1",
               "OCC", "C(C)C", "NC(C)=O"]  # fmt: skip
LINKERS = ["", "C", "CC", "C(C)", "OCC", "CCC", "C(=O)", "CO", "N(C)CC", "C1CC1"]

# How many distinct amides the enumeration above yields (it is exhausted there).
AMIDE_COUNT = 154_860

# Sulfonyl chlorides and primary amines of common use, '*' where the linkage attaches.
SULFONYL_CORES = [
    "*c1ccccc1", "*c1cccs1", "*c1cccnc1", "*c1ccc2ccccc2c1", "*c1cccc2ccccc12",
    "*c1cnn(C)c1", "*c1cn(C)cn1", "*c1c(C)noc1C", "*c1cccc2cccnc12", "*c1cc2ccccc2s1",
    "*c1ccc2c(c1)CCO2", "*c1ccc2c(c1)OCO2", "*c1ccc2c(c1)OCCO2", "*c1ccco1", "*c1cncs1",
    "*c1ccc2c(c1)CCC2", "*C", "*C1CC1", "*Cc1ccccc1", "*c1ccc2c(c1)CCN2C(C)=O",
]  # fmt: skip
AMINE_CORES = [
    "*c1ccccc1", "*Cc1ccccc1", "*CCc1ccccc1", "*c1ccccn1", "*c1cccnc1", "*c1ncccn1",
    "*c1nccs1", "*c1ccon1", "*C1CCCCC1", "*C1CC1", "*C1CCCC1", "*C1CCOCC1", "*C1CCN(C)CC1",
    "*c1cnn(C)c1", "*Cc1cccnc1", "*CCN1CCOCC1", "*Cc1ccco1", "*Cc1cccs1", "*c1nc2ccccc2s1",
    "*c1cnc2ccccc2c1", "*CCOC", "*C(C)(C)C", "*c1ccc2c(c1)CCC2", "*c1ccc2[nH]ncc2c1",
]  # fmt: skip
# Substituents of aromatic carbons, attached by their first atom.
SUBSTITUENTS = ["F", "Cl", "C", "OC", "C(F)(F)F", "C#N", "Br", "OC(F)(F)F", "C(C)=O",
                "NC(C)=O", "C(=O)OC", "C(N)=O", "S(C)(=O)=O", "N(C)C", "C1CC1"]  # fmt: skip
MAX_FRAGMENT_ATOMS = 24
# Fragments of each side: coprime counts whose product, with the amides, exceeds 10^7.
SULFONYL_COUNT = 3163
AMINE_COUNT = 3165
CAPACITY = AMIDE_COUNT + SULFONYL_COUNT * AMINE_COUNT


def _with_decoration(ring: str, decoration: str) -> str:
    """Attach a substituent to the first aromatic/aliphatic CH of a ring SMILES."""
    if not decoration:
        return ring
    for i, char in enumerate(ring):
        attachable = i > 0 and ring[i - 1] not in "[(=#" and not ring[i + 1 : i + 2].isalpha()
        if char in "cC" and attachable:
            return ring[: i + 1] + f"({decoration})" + ring[i + 1 :]
    return ring


def _amides():
    """Yield the SMILES of the AMIDE_COUNT amides, in the order of the first sheets."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    seen: set[str] = set()
    combos = itertools.product(DECORATIONS, LINKERS, ACIDS, AMINES, DECORATIONS)
    for decoration_a, linker, acid, amine, decoration_b in combos:
        smiles = (
            f"{_with_decoration(acid, decoration_a)}{linker}C(=O)N"
            f"{_with_decoration(amine, decoration_b)}"
        )
        molecule = Chem.MolFromSmiles(smiles)
        if molecule is None or molecule.GetNumHeavyAtoms() > 60:
            continue
        canonical = Chem.MolToSmiles(molecule)
        if canonical in seen:
            continue
        seen.add(canonical)
        yield smiles


def _decorated(core, substituents: list[tuple[int, str]]):
    """`core` (a molecule whose atom 0 is the attachment point) with each substituent bonded
    to its atom; None where RDKit refuses the result."""
    from rdkit import Chem

    molecule = Chem.RWMol(core)
    for atom, substituent in substituents:
        offset = molecule.GetNumAtoms()
        molecule.InsertMol(Chem.MolFromSmiles(substituent))
        molecule.AddBond(atom, offset, Chem.BondType.SINGLE)
    try:
        Chem.SanitizeMol(molecule)
    except Exception:  # RDKit raises several kinds; a refused candidate is skipped
        return None
    return molecule


@cache
def _fragments(cores: tuple[str, ...], count: int) -> tuple[str, ...]:
    """The first `count` distinct fragments made of `cores`: bare, then with one substituent,
    then with two, each on an aromatic CH; each written from its attachment point, without
    the '*' (so the linkage's atom bonds to the first atom)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    sulfur_nitrogen = Chem.MolFromSmarts("[#16]~[#7]")
    parsed = [Chem.MolFromSmiles(core) for core in cores]
    sites = [
        [
            atom.GetIdx()
            for atom in molecule.GetAtoms()
            if atom.GetIsAromatic() and atom.GetSymbol() == "C" and atom.GetTotalNumHs()
        ]
        for molecule in parsed
    ]

    def candidates():
        for degree in range(3):
            for core, positions in zip(parsed, sites, strict=True):
                for atoms in itertools.combinations(positions, degree):
                    for chosen in itertools.product(SUBSTITUENTS, repeat=degree):
                        yield _decorated(core, list(zip(atoms, chosen, strict=True)))

    fragments: list[str] = []
    seen: set[str] = set()
    for molecule in candidates():
        if (
            molecule is None
            or molecule.GetNumHeavyAtoms() > MAX_FRAGMENT_ATOMS  # the dummy atom not counted
            or molecule.HasSubstructMatch(sulfur_nitrogen)
            or Chem.FindPotentialStereo(molecule)
        ):
            continue
        canonical = Chem.MolToSmiles(molecule)
        if canonical in seen:
            continue
        seen.add(canonical)
        rooted = Chem.MolToSmiles(molecule, rootedAtAtom=0, canonical=True)
        fragments.append(rooted.removeprefix("*").removeprefix("-"))
        if len(fragments) == count:
            return tuple(fragments)
    raise ValueError(f"{cores} give only {len(fragments)} distinct fragments, not {count}")


@cache
def _sides() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(sulfonyl fragments, amine fragments)."""
    return (
        _fragments(tuple(SULFONYL_CORES), SULFONYL_COUNT),
        _fragments(tuple(AMINE_CORES), AMINE_COUNT),
    )


def sulfonamide(number: int) -> str:
    """The SMILES of sulfonamide `number` (0 to SULFONYL_COUNT * AMINE_COUNT - 1)."""
    sulfonyls, amines = _sides()
    return f"O=S(=O)(N{amines[number % AMINE_COUNT]}){sulfonyls[number % SULFONYL_COUNT]}"


def compounds(start: int, stop: int):
    """Yield (name, smiles, series) of compounds `start` to `stop` - 1 (0-based; names count from
    CPD-0000001), as a stream: memory does not grow with the range."""
    if not 0 <= start <= stop <= CAPACITY:
        raise ValueError(f"the library holds compounds 0 to {CAPACITY - 1}, not {start}-{stop}")
    if start < AMIDE_COUNT:
        amides = itertools.islice(_amides(), start, min(stop, AMIDE_COUNT))
        for index, smiles in enumerate(amides, start):
            yield f"CPD-{index + 1:07d}", smiles, "amide"
    for index in range(max(start, AMIDE_COUNT), stop):
        yield f"CPD-{index + 1:07d}", sulfonamide(index - AMIDE_COUNT), "sulfonamide"


def library(count: int):
    """Yield (name, smiles, series) for the first `count` distinct compounds."""
    return compounds(0, count)


def write_sheet(path, count: int) -> None:
    with open(path, "w") as handle:
        handle.write("name,smiles,series\n")
        for name, smiles, series in library(count):
            handle.write(f"{name},{smiles},{series}\n")


if __name__ == "__main__":
    write_sheet(sys.stdout.fileno() if len(sys.argv) < 3 else sys.argv[2], int(sys.argv[1]))
