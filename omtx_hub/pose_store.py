"""Pose checks and interactions (omtx_hub.pose_checks) of a shard's completed targets, run in
the shard job and kept in the result store, so that no target is checked twice.

Each result is a sealed object under `triage/<checker version>/<target key>.json`
(`store_layout.triage_key`): one per target and `TRIAGE_CHECKS_VERSION`, for every later
run of any screen with the target. A target Boltz has just predicted is checked on the
job's CPU while Boltz goes on predicting the next ones on the GPU (one worker thread; Boltz
is its own process); a target from the store is read from there, and checked now (from its
stored structure) only where it was predicted before the checks existed or with another
version of them. A ligand by CCD code and the receptor's organic cofactors by CCD code are
checked against the molecules Boltz modelled: those of Boltz's molecule cache on this
machine (`runtime.cache`'s mols/, `omtx_hub.molecule_cache.ccd_lookup`). Where the cache or a
molecule is not here, the target's result is that error, not stored: a run with the cache
checks it.

A checker's failure on one target is that target's result (`PoseTriage.error`), and a
failure to store or compute one is logged and leaves that target unchecked: it never fails
the shard (docs/reliability.md, "Pose checks and interactions").
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from omtx_hub.pose_checks import TRIAGE_CHECKS_VERSION, check_pose
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.records import PoseTriage
from omtx_hub.store import ResultStore
from omtx_hub.store_layout import TRIAGE_OBJECT, triage_key

log = logging.getLogger(__name__)

STRUCTURE_FILE = "structure.cif"


def stored_triage(store: ResultStore, key: str) -> PoseTriage | None:
    """The stored pose checks of target `key` by this checker version, if any (a damaged one
    is reported, moved aside and read as absent: `ResultStore.read_object`)."""
    read = store.read_object(TRIAGE_OBJECT, triage_key(TRIAGE_CHECKS_VERSION, key))
    if read.content is None:
        return None
    content = {name: value for name, value in read.content.items() if name != "key"}
    return PoseTriage.model_validate(content)


def record_triage(store: ResultStore, key: str, triage: PoseTriage) -> None:
    store.write_object(TRIAGE_OBJECT, triage_key(triage.version, key), triage.to_json())


def ccd_cofactors(receptor: ReceptorSpec) -> dict[str, str]:
    """The receptor's cofactors given by CCD code: chain -> code (each copy's chain)."""
    return {
        chain: cofactor.ccd
        for cofactor, chains in zip(receptor.cofactors, receptor.cofactor_ids(), strict=True)
        if cofactor.ccd is not None
        for chain in chains
    }


@dataclass
class Triage:
    """The pose checks of one shard's targets, computed in the background as they come."""

    store: ResultStore
    ligand_chain: str
    # The CCD molecule of a code in Boltz's molecule cache on this machine (LookupError where
    # the cache lacks it; molecule_cache.ccd_lookup), None where the cache is not here.
    ccd_molecules: Callable[[str], object] | None = None
    # The receptor's cofactors by CCD code (`ccd_cofactors`): chain -> code.
    cofactors: Mapping[str, str] = field(default_factory=dict)
    # The engine whose structures these are (model.engine): how a ligand's atoms are named.
    engine: str = "boltz2"
    pending: dict[str, Future] = field(default_factory=dict)
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="triage")
    )

    def submit(
        self,
        key: str,
        smiles: str | None,
        structure_cif: bytes | None = None,
        *,
        ccd: str | None = None,
    ) -> None:
        """Check target `key` (once per shard) of the ligand `smiles`, or CCD code `ccd` for a
        ligand by CCD code: from `structure_cif`, Boltz's structure just written, or else the
        store's result or stored structure."""
        if key not in self.pending:
            self.pending[key] = self.pool.submit(self._triage, key, smiles, ccd, structure_cif)

    def results(self) -> dict[str, PoseTriage]:
        """key -> pose checks of every submitted target that got one, once all are done."""
        self.pool.shutdown(wait=True)
        results = {}
        for key, future in self.pending.items():
            try:
                results[key] = future.result()
            except Exception as error:  # this target stays unchecked; the shard goes on
                log.warning("pose checks of target %s could not be made: %s", key, error)
        return results

    def _ccd_molecule(self, code: str):
        if self.ccd_molecules is None:
            raise LookupError(
                f"Boltz's molecule cache (runtime.cache's mols/) is not on this machine: the "
                f"CCD molecule {code} Boltz modelled cannot be read"
            )
        return self.ccd_molecules(code)

    def _triage(
        self, key: str, smiles: str | None, ccd: str | None, structure_cif: bytes | None
    ) -> PoseTriage:
        stored = stored_triage(self.store, key)
        if stored is not None:
            return stored
        try:
            ccd_ligand = self._ccd_molecule(ccd) if ccd is not None else None
            cofactors = {chain: self._ccd_molecule(code) for chain, code in self.cofactors.items()}
        except LookupError as error:  # this machine's cache, not the target: not stored
            return PoseTriage(version=TRIAGE_CHECKS_VERSION, error=f"LookupError: {error}")
        if structure_cif is None:
            with tempfile.TemporaryDirectory(prefix="omtx-triage-") as work:
                structure = Path(work) / STRUCTURE_FILE
                self.store.fetch(key, STRUCTURE_FILE, structure)  # checked against its seal
                structure_cif = structure.read_bytes()
        triage = check_pose(
            structure_cif,
            smiles,
            self.ligand_chain,
            ccd_ligand=ccd_ligand,
            cofactors=cofactors,
            engine=self.engine,
        )
        record_triage(self.store, key, triage)
        return triage
