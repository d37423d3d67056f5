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

The parts are kept, sealed and merged as omtx_hub.molecule_parts keeps every per-molecule
result: a damaged part is validated again, never served.
"""

from __future__ import annotations

from collections.abc import Sequence

from omtx_hub.chemistry import LigandProblem, PreparedLigand, prepare_ligands
from omtx_hub.keys import molecules_key
from omtx_hub.molecule_parts import MoleculeParts
from omtx_hub.store import ResultStore
from omtx_hub.store_layout import MOLECULES_OBJECT


def _encoded(ligand: PreparedLigand) -> list:
    # [canonical, modelled, heavy atoms, standardisation, flags]
    return [
        ligand.canonical_smiles,
        ligand.modeled_smiles,
        ligand.heavy_atoms,
        list(ligand.standardisation),
        list(ligand.flags),
    ]


def _decoded(stored: list) -> PreparedLigand:
    canonical, modeled, heavy, changes, flags = stored
    return PreparedLigand(canonical, modeled, heavy, tuple(changes), tuple(flags))


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
        parts = MoleculeParts(
            self.store, MOLECULES_OBJECT, self.key, encode=_encoded, decode=_decoded
        )
        known = parts.stored(smiles)
        new = list(dict.fromkeys(cell for cell in smiles if cell not in known))
        prepared = prepare_ligands(new, affinity=affinity, salts=salts, workers=workers)
        results: dict[str, PreparedLigand | LigandProblem] = dict(known)
        results.update(zip(new, prepared, strict=True))
        # Only valid molecules are kept: a refused SMILES is validated again (its message
        # names the sheet line).
        parts.add(
            {
                cell: result
                for cell, result in zip(new, prepared, strict=True)
                if isinstance(result, PreparedLigand)
            }
        )
        self.reused, self.validated = len(known), len(new)
        return [results[cell] for cell in smiles]
