"""Ligand validation at scale: `validate_sheet` of a generated library (100,000 by default).

Prints wall and CPU seconds (this process plus its worker processes) of validating the
sheet of `ligand_library.py`, with affinity (each SMILES through Boltz's own
`standardize`) and without, in one process and over the available cores, and of the same
compounds as salts and hydrates (each given a counter-ion or water: hydrochloride, mesylate,
trifluoroacetate, hydrate, in turn), which `ligands.salts: strip` reduces first.

    python benchmarks/validation_scale.py [--ligands 100000] [--workers 1 0]
        [--sheets plain salts] [--affinity on off]

`--workers 0` is the default spread (one process per available core). From a checkout
before `omtx_hub.chemistry` existed (no `salts` parameter), it measures that validator
(RDKit parsing and canonical SMILES only) on the plain sheet.
"""

from __future__ import annotations

import argparse
import inspect
import resource
import time
from pathlib import Path

from common import CACHE, ligand_sheet

from omtx_hub.sheet import validate_sheet

COUNTER_IONS = [".Cl", ".CS(=O)(=O)O", ".OC(=O)C(F)(F)F", ".O"]


def salt_sheet(count: int) -> Path:
    """The library's compounds, each with a counter-ion or water (cached)."""
    path = CACHE / f"salts-{count}.csv"
    if not path.exists():
        lines = ligand_sheet(count).read_text().splitlines()
        rows = [lines[0]]
        for number, line in enumerate(lines[1:]):
            name, smiles, series = line.split(",")
            rows.append(f"{name},{smiles}{COUNTER_IONS[number % len(COUNTER_IONS)]},{series}")
        path.write_text("\n".join(rows) + "\n")
    return path


def cpu_seconds() -> float:
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(path: Path, *, affinity: bool, workers: int | None) -> tuple[float, float, int]:
    """(wall s, CPU s, rows) of one validation; `workers` None: one process per core."""
    before_standardisation = "salts" not in inspect.signature(validate_sheet).parameters
    arguments = {} if before_standardisation else {"salts": "strip", "workers": workers}
    started_wall, started_cpu = time.perf_counter(), cpu_seconds()
    rows = len(validate_sheet(path, affinity=affinity, **arguments))
    return time.perf_counter() - started_wall, cpu_seconds() - started_cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ligands", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 0])
    parser.add_argument(
        "--sheets", nargs="+", choices=["plain", "salts"], default=["plain", "salts"]
    )
    parser.add_argument("--affinity", nargs="+", choices=["on", "off"], default=["on", "off"])
    arguments = parser.parse_args()
    if "salts" not in inspect.signature(validate_sheet).parameters:
        # The validator before standardisation: one process, salts refused.
        arguments.workers, arguments.sheets = [1], ["plain"]
    sheets = {"plain": ligand_sheet, "salts": salt_sheet}
    print(f"{'sheet':<6} {'affinity':<8} {'processes':<9} {'rows':>8} {'wall s':>8} {'CPU s':>8}")
    for name in arguments.sheets:
        path = sheets[name](arguments.ligands)
        for affinity in (setting == "on" for setting in arguments.affinity):
            for workers in arguments.workers:
                wall, cpu, rows = timed(path, affinity=affinity, workers=workers or None)
                label = "1" if workers == 1 else "per core"
                print(f"{name:<6} {affinity!s:<8} {label:<9} {rows:>8} {wall:>8.1f} {cpu:>8.1f}")


if __name__ == "__main__":
    main()
