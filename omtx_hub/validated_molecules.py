"""Molecules validated before, kept in the result store, so that a sheet that shares compounds
with an earlier one (a library screened again under other names or in another order, a sheet
with rows added, a subset) validates only its new SMILES.

Validation is a function of the SMILES as written and of what it depends on: the validator's
version, RDKit's and Boltz's versions, the affinity setting and `ligands.salts`
(`omtx_hub.keys.molecules_key`). Each SMILES's result is kept under that key, in one of 256
objects by the SMILES's sha256 (`omtx_hub.store_layout.validated_molecules_path`), so a sheet
reads and writes only the parts its SMILES fall in. Only valid molecules are kept; a SMILES
that is refused is validated again (its message names the sheet line). Rows by CCD code are
not validated here (they depend on Boltz's molecule cache).

Each part is sealed as the store seals every object (omtx_hub.store): a damaged part is
reported, moved aside and validated again; parts written before they were sealed are
validated again and written anew. A part is read, merged and written back whole: two
screens planned at the same moment may each keep only their own additions, which costs a
later sheet a validation, never a wrong result.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from omtx_hub.chemistry import LigandProblem, PreparedLigand, prepare_ligands
from omtx_hub.keys import molecules_key
from omtx_hub.store import LOOKUP_THREADS, ResultStore
from omtx_hub.store_layout import MOLECULES_OBJECT, validated_molecules_key

# A part's field of its SMILES: SMILES -> [canonical, modelled, heavy atoms, standardisation,
# flags].
MOLECULES = "molecules"


def _part(smiles: str) -> str:
    return hashlib.sha256(smiles.encode()).hexdigest()[:2]


class ValidatedMolecules:
    """`prepare_ligands` through the store's molecules validated before (omtx_hub.sheet takes
    it in place of `prepare_ligands`)."""

    def __init__(self, store: ResultStore, *, affinity: bool, salts: str):
        self.store = store
        self.key = molecules_key(affinity=affinity, salts=salts)
        # What the last `prepare` took from the store and what it validated (for its log).
        self.reused = self.validated = 0

    def prepare(
        self, smiles: Sequence[str], *, affinity: bool, salts: str, workers: int | None = None
    ) -> list[PreparedLigand | LigandProblem]:
        by_part: dict[str, set[str]] = defaultdict(set)
        for cell in smiles:
            by_part[_part(cell)].add(cell)
        parts = sorted(by_part)
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            stored = dict(zip(parts, pool.map(self._read, parts), strict=True))
        known = {
            cell: stored[part][cell]
            for part, cells in by_part.items()
            for cell in cells
            if cell in stored[part]
        }
        new = list(dict.fromkeys(cell for cell in smiles if cell not in known))
        prepared = prepare_ligands(new, affinity=affinity, salts=salts, workers=workers)
        results: dict[str, PreparedLigand | LigandProblem] = dict(known)
        results.update(zip(new, prepared, strict=True))
        additions: dict[str, dict[str, PreparedLigand]] = defaultdict(dict)
        for cell, result in zip(new, prepared, strict=True):
            if isinstance(result, PreparedLigand):
                additions[_part(cell)][cell] = result
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            list(
                pool.map(
                    lambda part: self._write(part, {**stored[part], **additions[part]}),
                    list(additions),
                )
            )
        self.reused, self.validated = len(known), len(new)
        return [results[cell] for cell in smiles]

    def _read(self, part: str) -> dict[str, PreparedLigand]:
        # Checked against its seal and parsed: a damaged part (or a sealed one that is no
        # part of ours) is moved aside, an unsealed one (written before parts were sealed)
        # ignored; either is validated again and written anew.
        molecules = self.store.read_parsed(
            MOLECULES_OBJECT, validated_molecules_key(self.key, part), _molecules_of_part
        )
        return molecules or {}

    def _write(self, part: str, molecules: dict[str, PreparedLigand]) -> None:
        rows = {
            cell: [
                ligand.canonical_smiles,
                ligand.modeled_smiles,
                ligand.heavy_atoms,
                list(ligand.standardisation),
                list(ligand.flags),
            ]
            for cell, ligand in molecules.items()
        }
        self.store.write_object(
            MOLECULES_OBJECT, validated_molecules_key(self.key, part), {MOLECULES: rows}
        )


def _molecules_of_part(content: dict) -> dict[str, PreparedLigand]:
    return {
        cell: PreparedLigand(canonical, modeled, heavy, tuple(changes), tuple(flags))
        for cell, (canonical, modeled, heavy, changes, flags) in content[MOLECULES].items()
    }
