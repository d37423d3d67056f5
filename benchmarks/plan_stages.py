"""The planning process's own costs at scale, validation left out: what `snakemake -n` does
in its main process besides validating SMILES, at sizes where validating them all would take
the machine's hour.

Each SMILES is taken as its own modelled molecule (20 heavy atoms, no change, no flag)
instead of being validated with RDKit and Boltz, so the numbers are those of everything else
(reading and hashing the sheet, checking its names, the store's molecules validated before,
writing and reading the validated sheet's sealed object, keys, shards, the plan's files); the
validation itself costs about 0.8 ms of CPU per molecule (benchmarks/validation_profile.py,
benchmarks/plan_scale.py). One protein, shards of 100, a new store; prints wall, CPU seconds
and peak memory of this process after each stage, with the load average.

    python benchmarks/plan_stages.py [--size 1000000] [--workdir DIR]

With --workdir the screen is kept: `snakemake -n` in DIR (with its config.yaml) is then a
warm re-plan, its validated sheet cached in the store and its plan unchanged.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import yaml
from common import ligand_sheet

import omtx_hub.validated_molecules as validated_molecules
from omtx_hub.chemistry import PreparedLigand
from omtx_hub.config import load_config
from omtx_hub.config_files import merged_config_files
from omtx_hub.plan import build_plan, read_validated_sheet
from omtx_hub.store import LocalStore, open_store


def unvalidated(smiles, *, affinity, salts, workers=None):
    """Each SMILES as its own modelled molecule (what replaces validation here)."""
    return [PreparedLigand(cell, cell, 20, (), ()) for cell in smiles]


def report(stage: str, started: float) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{stage:<36} {time.perf_counter() - started:8.1f} s  {time.process_time():8.1f} CPU s "
        f"(cumulative)  peak {peak:6.0f} MiB  load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    arguments = parser.parse_args()
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="omtx-plan-stages-"))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    raw = {
        "screen": {"name": "stages"},
        "proteins": [{"name": "P1", "sequence": "MKTAYIAKQRQISFVKSHFS", "msa": "empty"}],
        "ligands": str(ligand_sheet(arguments.size)),
        "store": str(workdir / "store"),
        "sharding": {"shard_size": 100},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(merged_config_files([workdir / "config.yaml"]))
    validated_molecules.prepare_ligands = unvalidated
    # The plan goes where `snakemake -n` in `workdir` writes it, so a warm `snakemake -n` there
    # afterwards finds it unchanged (the bookkeeping benchmark's warm re-plan).
    store, results = open_store(config.store), LocalStore(workdir)

    started = time.perf_counter()
    plan = build_plan(config, store)
    report("cold plan (validation left out)", started)
    started = time.perf_counter()
    written = plan.write(results)
    report(f"plan written ({len(written):,} files)", started)
    del plan
    started = time.perf_counter()
    plan = build_plan(config, store)
    report("warm plan (validated sheet cached)", started)
    started = time.perf_counter()
    written = plan.write(results)
    report(f"plan written again ({len(written):,} files)", started)
    started = time.perf_counter()
    read_validated_sheet(plan.sheet, store)
    report("validated sheet read (as aggregation)", started)
    size = (workdir / "store" / plan.sheet).stat().st_size
    print(f"the validated sheet's sealed object: {size / 2**20:.0f} MiB")
    if not arguments.workdir:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
