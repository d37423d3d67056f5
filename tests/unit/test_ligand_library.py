"""The benchmarks' ligand library: 10^7 distinct compounds that the project's own sheet
validation accepts, sampled across the whole index range (benchmarks/ligand_library.py)."""

from __future__ import annotations

import math

import pytest
from rdkit import Chem

from benchmarks import ligand_library
from benchmarks.ligand_library import (
    AMIDE_COUNT,
    AMINE_COUNT,
    CAPACITY,
    SULFONYL_COUNT,
    compounds,
)
from omtx_hub.result_tables import FLAG_LARGE
from omtx_hub.sheet import validate_sheet

TEN_MILLION = 10**7
# The first amides, the first sulfonamides, the middle and the last of 10^7 (the last amides
# are left out: reaching them enumerates every amide, two minutes).
SAMPLES = [
    (0, 1000),
    (AMIDE_COUNT, AMIDE_COUNT + 1000),
    (TEN_MILLION // 2 - 500, TEN_MILLION // 2 + 500),
    (TEN_MILLION - 1000, TEN_MILLION),
]
SULFUR_NITROGEN = Chem.MolFromSmarts("[#16]~[#7]")
# An S-N bond whose nitrogen bonds a carbon: every sulfonamide has one, no amide.
SULFONAMIDE_LINKAGE = Chem.MolFromSmarts("[#16]~[#7]~[#6]")


@pytest.fixture(scope="module")
def sample():
    rows = []
    for start, stop in SAMPLES:
        rows += compounds(start, stop)
    return rows


def test_the_library_holds_ten_million_compounds():
    assert CAPACITY >= TEN_MILLION
    assert math.gcd(SULFONYL_COUNT, AMINE_COUNT) == 1  # each index is its own pair
    with pytest.raises(ValueError, match="holds compounds 0 to"):
        next(compounds(CAPACITY - 1, CAPACITY + 1))


def test_the_sample_passes_sheet_validation_distinct_and_drug_like(sample, tmp_path):
    path = tmp_path / "ligands.csv"
    path.write_text("name,smiles,series\n" + "".join(f"{','.join(row)}\n" for row in sample))
    table = validate_sheet(path, affinity=True)  # raises on any problem, naming the line
    assert len(table) == len(sample) == 4000
    assert table["name"].is_unique
    assert table["canonical_smiles"].is_unique
    assert not table["flags"].str.contains(FLAG_LARGE, regex=False).any()
    sulfonamides = table[table["series"] == "sulfonamide"]
    assert len(sulfonamides) == 3000
    # Building blocks without stereocentres: no sulfonamide carries a stereo flag.
    assert (sulfonamides["flags"] == "").all()


def test_the_first_compounds_are_the_recorded_sheets():
    """The amides come first, in the order every recorded benchmark was measured on."""
    first = list(compounds(0, 3))
    assert first == [
        ("CPD-0000001", "c1ccccc1C(=O)Nc1ccccc1", "amide"),
        ("CPD-0000002", "c1ccccc1C(=O)Nc1ccccc(F)1", "amide"),
        ("CPD-0000003", "c1ccccc1C(=O)Nc1ccccc(Cl)1", "amide"),
    ]
    assert next(compounds(AMIDE_COUNT, AMIDE_COUNT + 1))[0] == f"CPD-{AMIDE_COUNT + 1:07d}"


def test_sulfonamides_are_distinct_by_construction():
    """Each side's fragments are distinct with their attachment point and hold no S-N bond,
    so a sulfonamide's one S-N bond is its linkage and cutting it gives back its pair."""
    sulfonyls, amines = ligand_library._sides()
    for fragments in (sulfonyls, amines):
        molecules = [Chem.MolFromSmiles(f"*{fragment}") for fragment in fragments]
        assert all(molecule is not None for molecule in molecules)
        assert len({Chem.MolToSmiles(molecule) for molecule in molecules}) == len(fragments)
        assert not any(molecule.HasSubstructMatch(SULFUR_NITROGEN) for molecule in molecules)


def test_no_amide_has_a_sulfonamide_linkage(sample):
    """What keeps the two series apart: the amides' building blocks have no S-N bond whose
    nitrogen bonds a carbon (the one S-N bond is a primary sulfonamide), decorations bond to
    carbons and the amide nitrogen to the amine's first atom, a carbon; every sulfonamide
    has such a bond, exactly one."""
    blocks = [
        *ligand_library.ACIDS,
        *ligand_library.AMINES,
        *filter(None, ligand_library.DECORATIONS),
        *filter(None, ligand_library.LINKERS),
    ]
    for block in blocks:
        assert not Chem.MolFromSmiles(block).HasSubstructMatch(SULFONAMIDE_LINKAGE), block
    assert all(amine[0] in "cC" for amine in ligand_library.AMINES)
    for _, smiles, series in sample:
        matches = Chem.MolFromSmiles(smiles).GetSubstructMatches(SULFUR_NITROGEN)
        links = Chem.MolFromSmiles(smiles).GetSubstructMatches(SULFONAMIDE_LINKAGE)
        if series == "amide":
            assert not links, smiles
        else:
            assert len(matches) == 1 and links, smiles
