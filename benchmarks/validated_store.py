"""What keeping validation's results in the store costs at scale, each step in a fresh process
(wall, CPU seconds, peak MiB; `common.measure_with_cpu`):

- the store's validated molecules written for `--ligands` new SMILES, then read back by a
  second sheet of the same SMILES (`omtx_hub.validated_molecules`); each SMILES taken as its
  own modelled molecule (as in plan_stages.py), so the figures are the store's work, not
  validation's;
- with `--sheet-store STORE`: the validated sheet kept in STORE read back
  (`omtx_hub.plan.read_validated_sheet`: what a warm re-plan, aggregation and `omtx-hub
  status` do), its seal checked. STORE is a kept screen's store (`bookkeeping.py --keep`)
  holding one validated sheet of this validator version.

    python benchmarks/validated_store.py [--ligands 1000000] [--sheet-store STORE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from common import ligand_sheet, measure_with_cpu

from omtx_hub.chemistry import PreparedLigand
from omtx_hub.sheet import VALIDATOR_VERSION
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import SHEETS_DIR


def unvalidated(smiles, *, affinity, salts, workers=None):
    """Each SMILES as its own modelled molecule (what replaces validation here)."""
    return [PreparedLigand(cell, cell, 20, (), ()) for cell in smiles]


def molecules(store: Path, ligands: int) -> None:
    """The validated molecules of the sheet's SMILES, through the store at `store`."""
    import omtx_hub.validated_molecules as validated_molecules

    validated_molecules.prepare_ligands = unvalidated
    lines = ligand_sheet(ligands).read_text().splitlines()[1:]
    smiles = [line.split(",")[1] for line in lines]
    kept = validated_molecules.ValidatedMolecules(LocalStore(store), affinity=True, salts="strip")
    kept.prepare(smiles, affinity=True, salts="strip")
    print(f"{kept.reused} read, {kept.validated} validated", file=sys.stderr)


def the_sheet(store: Path) -> str:
    """The one validated sheet of this validator version in `store`."""
    names = sorted((store / SHEETS_DIR).glob(f"*-v{VALIDATOR_VERSION}-*.json"))
    if len(names) != 1:
        raise SystemExit(
            f"{store} holds {len(names)} validated sheets of version {VALIDATOR_VERSION}"
        )
    return f"{SHEETS_DIR}/{names[0].name}"


def sheet(store: Path) -> None:
    from omtx_hub.plan import read_validated_sheet

    print(f"{len(read_validated_sheet(the_sheet(store), LocalStore(store)))} rows", file=sys.stderr)


def stage(*arguments: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--stage", *arguments]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ligands", type=int, default=1_000_000)
    parser.add_argument("--sheet-store", type=Path)
    parser.add_argument("--stage", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.stage:
        kind, where = arguments.stage
        if kind == "molecules":
            molecules(Path(where), arguments.ligands)
        else:
            sheet(Path(where))
        return
    print(f"{'step':<46} {'wall s':>7} {'CPU s':>7} {'peak MiB':>8}  load")
    store = Path(tempfile.mkdtemp(prefix="omtx-validated-store-"))
    steps = [
        (f"validated molecules: {arguments.ligands:,} new", stage("molecules", str(store))),
        (f"validated molecules: {arguments.ligands:,} read back", stage("molecules", str(store))),
    ]
    if arguments.sheet_store:
        steps.append(("validated sheet read back", stage("sheet", str(arguments.sheet_store))))
    for label, command in steps:
        load = os.getloadavg()[0]
        wall, cpu, peak = measure_with_cpu([*command, "--ligands", str(arguments.ligands)])
        print(f"{label:<46} {wall:>7.1f} {cpu:>7.1f} {peak:>8.0f}  {load:.1f}", flush=True)
    shutil.rmtree(store)


if __name__ == "__main__":
    main()
