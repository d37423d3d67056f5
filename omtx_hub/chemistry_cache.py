"""Molecules' alerts and properties (omtx_hub.medchem) kept in the result store, so that each
distinct modelled molecule is computed once, whatever screen, sheet or rerun it comes in.

Kept as the validated molecules are (omtx_hub.validated_molecules): under
`omtx_hub.keys.chemistry_key` (CHEMISTRY_VERSION and RDKit's version), in one of 256 sealed
parts by the modelled SMILES's sha256 (`omtx_hub.store_layout.part_key`); a damaged part is
reported, moved aside and computed again; two screens writing one part at the same moment
may each keep only their own additions, which costs a later screen a computation, never a
wrong value.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from omtx_hub.keys import chemistry_key
from omtx_hub.medchem import MoleculeChemistry, chemistry_of_molecules
from omtx_hub.records import CHEMISTRY_COLUMNS
from omtx_hub.result_tables import result_dtypes
from omtx_hub.store import LOOKUP_THREADS, ResultStore
from omtx_hub.store_layout import CHEMISTRY_OBJECT, part_key

# A part's field of its molecules: modelled SMILES -> MoleculeChemistry.to_json().
MOLECULES = "molecules"


def _part(smiles: str) -> str:
    return hashlib.sha256(smiles.encode()).hexdigest()[:2]


class ChemistryCache:
    """`chemistry_of_molecules` through the store's molecules computed before."""

    def __init__(self, store: ResultStore):
        self.store = store
        self.key = chemistry_key()
        # What the last `chemistry` took from the store and what it computed (for its log).
        self.reused = self.computed = 0

    def chemistry(
        self, smiles: Iterable[str], *, workers: int | None = None
    ) -> dict[str, MoleculeChemistry]:
        """Each distinct modelled SMILES's alerts and properties."""
        by_part: dict[str, set[str]] = defaultdict(set)
        for cell in smiles:
            by_part[_part(cell)].add(cell)
        parts = sorted(by_part)
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            stored = dict(zip(parts, pool.map(self._read, parts), strict=True))
        found = {
            cell: stored[part][cell]
            for part, cells in by_part.items()
            for cell in cells
            if cell in stored[part]
        }
        new = sorted(cell for cells in by_part.values() for cell in cells if cell not in found)
        computed = dict(zip(new, chemistry_of_molecules(new, workers=workers), strict=True))
        additions: dict[str, dict[str, MoleculeChemistry]] = defaultdict(dict)
        for cell, result in computed.items():
            additions[_part(cell)][cell] = result
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            list(
                pool.map(
                    lambda part: self._write(part, {**stored[part], **additions[part]}),
                    list(additions),
                )
            )
        self.reused, self.computed = len(found), len(new)
        return found | computed

    def _read(self, part: str) -> dict[str, MoleculeChemistry]:
        content = self.store.read_object(CHEMISTRY_OBJECT, part_key(self.key, part)).content
        if content is None:
            return {}
        return {
            cell: MoleculeChemistry.from_json(stored) for cell, stored in content[MOLECULES].items()
        }

    def _write(self, part: str, molecules: dict[str, MoleculeChemistry]) -> None:
        rows = {cell: chemistry.to_json() for cell, chemistry in molecules.items()}
        self.store.write_object(CHEMISTRY_OBJECT, part_key(self.key, part), {MOLECULES: rows})


def chemistry_columns(modeled_smiles: pd.Series, store: ResultStore) -> pd.DataFrame:
    """The CHEMISTRY_COLUMNS of each row of a results table, by its `modeled_smiles` (a
    lookup per distinct molecule, so aggregation can merge it however it builds its rows);
    empty for a row without one (a ligand by CCD code)."""
    present = modeled_smiles.dropna()
    present = present[present != ""]
    by_molecule = ChemistryCache(store).chemistry(present.unique().tolist())
    # One row per molecule, spread over its rows.
    molecules = pd.DataFrame(
        [chemistry.columns() for chemistry in by_molecule.values()],
        index=list(by_molecule),
        columns=list(CHEMISTRY_COLUMNS),
    )
    columns = molecules.reindex(present.to_numpy()).set_axis(present.index)
    # Counts stay integers where some rows have none (written 3, not 3.0).
    return columns.reindex(modeled_smiles.index).astype(result_dtypes(CHEMISTRY_COLUMNS))
