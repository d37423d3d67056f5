"""A deterministic library of distinct, drug-like SMILES for scale benchmarks.

Enumerates amides R1-C(=O)N(H)-R2 from real medicinal-chemistry building blocks (aryl and
heteroaryl acids, amines), decorated with common substituents. Every SMILES is valid and
distinct after canonicalisation.

    python benchmarks/ligand_library.py 100000 > ligands.csv
"""

from __future__ import annotations

import itertools
import sys

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


def _with_decoration(ring: str, decoration: str) -> str:
    """Attach a substituent to the first aromatic/aliphatic CH of a ring SMILES."""
    if not decoration:
        return ring
    for i, char in enumerate(ring):
        attachable = i > 0 and ring[i - 1] not in "[(=#" and not ring[i + 1 : i + 2].isalpha()
        if char in "cC" and attachable:
            return ring[: i + 1] + f"({decoration})" + ring[i + 1 :]
    return ring


def library(count: int):
    """Yield (name, smiles) for `count` distinct compounds."""
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
        yield f"CPD-{len(seen):07d}", smiles
        if len(seen) == count:
            return
    raise ValueError(f"the enumeration yields only {len(seen)} distinct compounds")


def write_sheet(path, count: int) -> None:
    with open(path, "w") as handle:
        handle.write("name,smiles,series\n")
        for name, smiles in library(count):
            handle.write(f"{name},{smiles},amide\n")


if __name__ == "__main__":
    write_sheet(sys.stdout.fileno() if len(sys.argv) < 3 else sys.argv[2], int(sys.argv[1]))
