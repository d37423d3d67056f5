"""Bookkeeping at scale: every step of a screen that runs on the user's own machine, each in
a fresh process, at each size: wall time, CPU seconds and peak memory.

A screen of N ligands of `ligand_library.py` (one protein, shards of 100), in a new
directory per size:
- cold plan: `snakemake -n` with a new store: every SMILES validated, the plan written;
- warm re-plan: `snakemake -n` again: the validated sheet from the store, the plan unchanged;
- (not measured: every shard finished, as `omtx_hub.testing.synthetic.write_screen` writes
  it: manifests, structures hard-linked, one target in 97 failed)
- aggregation: what the workflow's `aggregate_screen` rule runs
  (workflow/scripts/aggregate_screen.py): the plan read, every manifest,
  `batch_results.csv`, `batch_results.parquet` and `summary.json` written;
- dashboard: `omtx-report <screen dir>` (the page is rendered, not opened: the browser's
  timings are `report_scale.py`'s);
- status: `omtx-hub status`.

What is measured (benchmarks/common.py `measure_with_cpu`): a wrapper process runs the step
and waits for it. Wall: from starting the wrapper to its exit, the interpreter's start-up and
imports included. CPU: user + system seconds of every process of the step (Snakemake's
validation workers included). Peak MiB: `ru_maxrss` of the wrapper's RUSAGE_CHILDREN, the
largest resident set that any one process of the step reached; processes running at the same
time (Snakemake and its two validation workers) are not summed. The load column is the
machine's one-minute load average before the step: other work stretches the wall time.

    python benchmarks/bookkeeping.py [--sizes 100000 1000000] [--write-docs] [--keep DIR]
        [--steps cold warm aggregate dashboard status] [--store-from STORE]

With --write-docs the table replaces the marked section of docs/performance.md, dated (a step
left out by --steps reads "not measured"). Without the cold step the plan is made first,
unmeasured, so that the warm re-plan finds it; with --store-from that first plan reads the
validated sheet copied from the store STORE of an earlier screen of the same sheet (same
validator version) instead of validating every SMILES again: the warm steps at 10^6 without
the cold plan's quarter of an hour.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from common import REPO, ligand_sheet, measure_with_cpu, replace_marked_section, snakemake_command

from omtx_hub.aggregate import write_results
from omtx_hub.config import load_config
from omtx_hub.config_files import merged_config_files
from omtx_hub.layout import ScreenLayout
from omtx_hub.plan import PlannedScreen, build_plan, sheet_name
from omtx_hub.store import open_store
from omtx_hub.testing.synthetic import write_screen

SCREEN = "bookkeeping"
STEPS = {
    "cold": "cold plan",
    "warm": "warm re-plan",
    "aggregate": "aggregation",
    "dashboard": "dashboard",
    "status": "status",
}
DOCS = REPO / "docs" / "performance.md"
SECTION = "bookkeeping-benchmark"


def screen_config(workdir: Path, size: int) -> Path:
    path = workdir / "config.yaml"
    raw = {
        "screen": {"name": SCREEN},
        "proteins": [{"name": "P1", "sequence": "MKTAYIAKQRQISFVKSHFS", "msa": "empty"}],
        "ligands": str(ligand_sheet(size)),
        "store": str(workdir / "store"),
        "sharding": {"shard_size": 100},
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def loaded_config(workdir: Path):
    """The config as snakemake and `omtx-hub status` read it (merged over the defaults)."""
    return load_config(merged_config_files([workdir / "config.yaml"]))


def copy_validated_sheet(workdir: Path, store_from: Path) -> None:
    """The validated sheet of this screen's sheet, copied from the store `store_from` into
    this screen's store (where planning looks it up by the sheet's sha256 and validator)."""
    config = loaded_config(workdir)
    name = sheet_name(
        config.ligands.sheet,
        affinity=config.model.affinity,
        salts=config.ligands.salts,
        mols_dir=config.runtime.molecule_cache,
    )
    if not (store_from / name).is_file():
        raise SystemExit(f"{store_from} has no validated sheet {name} (another sheet or version)")
    (workdir / "store" / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store_from / name, workdir / "store" / name)


def finish_every_shard(workdir: Path) -> Path:
    """Every shard's manifest and structures, as the GPU jobs write them; the screen dir."""
    config = loaded_config(workdir)
    plan = build_plan(config, open_store(config.store))
    return write_screen(plan, workdir / "results", failed_every=97, shards_done=len(plan.shards))


def aggregate(workdir: Path) -> None:
    """The measured aggregation, in its own process: workflow/scripts/aggregate_screen.py."""
    config = loaded_config(workdir)
    layout = ScreenLayout.of(workdir / "results", SCREEN)
    write_results(
        PlannedScreen.read(config, layout.plan, open_store(config.store)),
        sorted(layout.shards.glob("*/*.json")),
        csv_path=layout.table,
        parquet_path=layout.parquet_table,
        summary_path=layout.summary,
        selectivity_path=None,
    )


def measured(command: list[str], cwd: Path | None = None) -> tuple[float, float, float, float]:
    """(wall s, CPU s, peak MiB, load average before)."""
    load = os.getloadavg()[0]
    return (*measure_with_cpu(command, cwd), load)


def one_size(
    size: int, workdir: Path, steps: list[str], store_from: Path | None
) -> dict[str, tuple[float, float, float, float]]:
    config = screen_config(workdir, size)
    if store_from:
        copy_validated_sheet(workdir, store_from)
    plan = snakemake_command(workdir, "-n")
    results = {}
    if "cold" in steps:
        results["cold"] = measured(plan)
    elif set(steps) - {"cold"}:
        measured(plan)  # the plan the warm re-plan and the finished shards start from
    if "warm" in steps:
        results["warm"] = measured(plan)
    if not set(steps) & {"aggregate", "dashboard", "status"}:
        return results
    screen_dir = finish_every_shard(workdir)
    if "aggregate" in steps:
        aggregation = [sys.executable, __file__, "--aggregate-only", str(workdir)]
        results["aggregate"] = measured(aggregation)
    else:
        aggregate(workdir)  # the dashboard's and status's input
    if "dashboard" in steps:
        dashboard = [sys.executable, "-m", "omtx_report.cli", str(screen_dir)]
        results["dashboard"] = measured(dashboard, cwd=REPO)
    if "status" in steps:
        status = ["status", "--configfile", str(config), "--outputs", str(workdir)]
        results["status"] = measured([sys.executable, "-m", "omtx_hub.cli", *status])
    return results


def docs_table(results: dict[int, dict], today: str) -> str:
    loads = [load for steps in results.values() for *_, load in steps.values()]
    measured_steps = [step for step in STEPS if any(step in steps for steps in results.values())]
    steps_option = (
        "" if len(measured_steps) == len(STEPS) else f" --steps {' '.join(measured_steps)}"
    )
    lines = [
        f"Measured {today} with `python benchmarks/bookkeeping.py --sizes "
        f"{' '.join(map(str, results))}{steps_option} --write-docs` on {os.cpu_count()} cores, "
        "no GPU "
        f"(load average {min(loads):.1f}-{max(loads):.1f}); each cell: wall time (CPU seconds "
        "of all its processes), peak resident memory of its largest process:",
        "",
        "| ligands | " + " | ".join(STEPS.values()) + " |",
        "|---|" + "---|" * len(STEPS),
    ]
    for size, steps in results.items():
        cells = [
            f"{steps[step][0]:.1f} s ({steps[step][1]:.1f} CPU s), {steps[step][2]:.0f} MiB"
            if step in steps
            else "not measured"
            for step in STEPS
        ]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--write-docs", action="store_true", help=f"write the table into {DOCS}")
    parser.add_argument("--keep", type=Path, help="work in DIR/<size> and keep it")
    parser.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS))
    parser.add_argument(
        "--store-from",
        type=Path,
        help="copy the validated sheet from this store (not with the cold step)",
    )
    parser.add_argument("--aggregate-only", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.store_from and "cold" in arguments.steps:
        parser.error("--store-from makes the plan warm: leave the cold step out (--steps)")
    if arguments.aggregate_only:
        aggregate(arguments.aggregate_only)
        return
    print(f"{'ligands':>9} {'step':<13} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'load':>5}")
    results = {}
    for size in arguments.sizes:
        workdir = (
            arguments.keep / str(size)
            if arguments.keep
            else Path(tempfile.mkdtemp(prefix=f"omtx-bookkeeping-{size}-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        results[size] = one_size(size, workdir, arguments.steps, arguments.store_from)
        for step, (wall, cpu, peak, load) in results[size].items():
            print(f"{size:>9} {STEPS[step]:<13} {wall:>8.2f} {cpu:>8.1f} {peak:>9.0f} {load:>5.1f}")
        if not arguments.keep:
            shutil.rmtree(workdir)
    if arguments.write_docs:
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        DOCS.write_text(
            replace_marked_section(DOCS.read_text(), SECTION, docs_table(results, today))
        )
        print(f"wrote the table into {DOCS}")


if __name__ == "__main__":
    main()
