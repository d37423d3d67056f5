"""What a medicinal chemist checks of a compound before buying it: its structural alerts
(PAINS A/B/C, Brenk, NIH, by name) and its properties (MW, cLogP, TPSA, HBD, HBA, rotatable
bonds, QED, formal charge), from RDKit alone (`FilterCatalog`, `Descriptors`, `QED`).

They are computed on the molecule the screen models (`modeled_smiles`, what Boltz sees after
its standardisation), once per distinct molecule: `molecule_chemistry` is the function of one
molecule, `chemistry_of_molecules` spreads many over processes, and
omtx_hub.chemistry_cache keeps each result in the result store under `CHEMISTRY_VERSION`
(omtx_hub.keys.chemistry_key), so that a screen run again computes nothing.

They run at aggregation, over the distinct molecules of the screen, not at planning: a
drug-like molecule takes about 4 ms here (alerts ~3 ms, properties ~1 ms; 2026-12-06, a busy
2-core machine), more than five times validation's 0.75 ms, which would add over an hour to
planning a 10^6-compound sheet on a laptop. At aggregation it is paid once per molecule, in
parallel, and under 0.1% of the GPU time of the targets it describes (30 s each).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass, fields
from functools import cache
from multiprocessing import get_context

from rdkit import Chem, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

from omtx_hub.chemistry import available_cores
from omtx_hub.result_tables import ALERT_SETS, ALERTS_SEPARATOR

# Part of the chemistry cache's key: raise it whenever what `molecule_chemistry` returns for a
# molecule changes (an alert set, a property, a rounding), so that no older result is reused.
CHEMISTRY_VERSION = 1
# Below this many molecules per worker process, they are computed in this process (a pool
# takes about 0.4 s to start; omtx_hub.chemistry.SMILES_PER_WORKER).
MOLECULES_PER_WORKER = 1000
# Decimals kept of the real-valued properties: more than any window a config sets.
DECIMALS = 3


@dataclass(frozen=True)
class MoleculeChemistry:
    """A molecule's alerts (`<set>:<description>`, e.g. `PAINS_A:ene_rhod_A(235)`) and
    properties; the field names are batch_results.csv's columns (result_tables)."""

    alerts: tuple[str, ...]
    mw: float  # average molecular weight, g/mol (Descriptors.MolWt)
    clogp: float  # Wildman-Crippen logP (Crippen.MolLogP)
    tpsa: float  # topological polar surface area, Å² (rdMolDescriptors.CalcTPSA)
    hbd: int  # Lipinski H-bond donors (rdMolDescriptors.CalcNumHBD)
    hba: int  # Lipinski H-bond acceptors (rdMolDescriptors.CalcNumHBA)
    rotatable_bonds: int  # rdMolDescriptors.CalcNumRotatableBonds
    qed: float  # quantitative estimate of drug-likeness (QED.qed, Bickerton 2012)
    formal_charge: int  # Chem.GetFormalCharge

    def to_json(self) -> list:
        """The compact stored form (`from_json` reads it back)."""
        return [list(self.alerts), *astuple(self)[1:]]

    @classmethod
    def from_json(cls, stored: list) -> MoleculeChemistry:
        alerts, *properties = stored
        return cls(tuple(alerts), *properties)

    def columns(self) -> dict:
        """The molecule's cells of batch_results.csv: alerts `;`-joined."""
        cells = {field.name: getattr(self, field.name) for field in fields(self)}
        return cells | {"alerts": ALERTS_SEPARATOR.join(self.alerts)}


@cache
def _catalogs() -> dict[str, FilterCatalog]:
    # One catalog per set, so that each match is named with its set.
    # RDKit names its catalogs in upper case (FilterCatalogParams.FilterCatalogs.BRENK).
    catalogs = {}
    for name in ALERT_SETS:
        params = FilterCatalogParams()
        params.AddCatalog(getattr(FilterCatalogParams.FilterCatalogs, name.upper()))
        catalogs[name] = FilterCatalog(params)
    return catalogs


def molecule_chemistry(smiles: str) -> MoleculeChemistry:
    """The alerts and properties of the molecule `smiles` (a modelled SMILES, which RDKit
    reads: validation made it); ValueError for a SMILES RDKit cannot read."""
    RDLogger.DisableLog("rdApp.*")
    molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        raise ValueError(f"RDKit cannot read the modelled SMILES '{smiles}'")
    alerts = tuple(
        f"{name}:{match.GetDescription()}"
        for name, catalog in _catalogs().items()
        for match in catalog.GetMatches(molecule)
    )
    return MoleculeChemistry(
        alerts=tuple(dict.fromkeys(alerts)),
        mw=round(Descriptors.MolWt(molecule), DECIMALS),
        clogp=round(Crippen.MolLogP(molecule), DECIMALS),
        tpsa=round(rdMolDescriptors.CalcTPSA(molecule), DECIMALS),
        hbd=rdMolDescriptors.CalcNumHBD(molecule),
        hba=rdMolDescriptors.CalcNumHBA(molecule),
        rotatable_bonds=rdMolDescriptors.CalcNumRotatableBonds(molecule),
        qed=round(QED.qed(molecule), DECIMALS),
        formal_charge=Chem.GetFormalCharge(molecule),
    )


def _each(smiles: Sequence[str]) -> list[MoleculeChemistry]:
    return [molecule_chemistry(cell) for cell in smiles]


def chemistry_of_molecules(
    smiles: Sequence[str], *, workers: int | None = None
) -> list[MoleculeChemistry]:
    """`molecule_chemistry` of each of the distinct `smiles`, in order, over `workers`
    processes (default: one per available core, each with at least MOLECULES_PER_WORKER)."""
    if workers is None:
        workers = min(available_cores(), len(smiles) // MOLECULES_PER_WORKER)
    if workers <= 1:
        return _each(smiles)
    chunk = -(-len(smiles) // (workers * 4))
    chunks = [smiles[start : start + chunk] for start in range(0, len(smiles), chunk)]
    # spawn, not fork: aggregation may run in Snakemake's process, with threads of its own.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return [result for part in pool.map(_each, chunks) for result in part]
