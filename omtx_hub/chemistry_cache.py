"""Molecules' alerts and properties (omtx_hub.medchem) kept in the result store, so that each
distinct modelled molecule is computed once, whatever screen, sheet or rerun it comes in.

Kept as every per-molecule result is (omtx_hub.molecule_parts): under
`omtx_hub.keys.chemistry_key` (CHEMISTRY_VERSION and RDKit's version), in one of 256 sealed
parts by the modelled SMILES's sha256; a damaged part is computed again, never served.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from omtx_hub.keys import chemistry_key
from omtx_hub.medchem import MoleculeChemistry, chemistry_of_molecules
from omtx_hub.molecule_parts import MoleculeParts
from omtx_hub.records import CHEMISTRY_COLUMNS
from omtx_hub.result_tables import result_dtypes
from omtx_hub.store import ResultStore
from omtx_hub.store_layout import CHEMISTRY_OBJECT


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
        parts = MoleculeParts(
            self.store,
            CHEMISTRY_OBJECT,
            self.key,
            encode=MoleculeChemistry.to_json,
            decode=MoleculeChemistry.from_json,
        )
        smiles = list(smiles)
        found = parts.stored(smiles)
        new = sorted({cell for cell in smiles if cell not in found})
        computed = dict(zip(new, chemistry_of_molecules(new, workers=workers), strict=True))
        parts.add(computed)
        self.reused, self.computed = len(found), len(new)
        return found | computed


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
