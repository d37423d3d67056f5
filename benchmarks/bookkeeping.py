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

With --write-docs the table replaces the marked section of docs/performance.md, dated.
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
from omtx_hub.plan import PlannedScreen, build_plan
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


def one_size(size: int, workdir: Path) -> dict[str, tuple[float, float, float, float]]:
    config = screen_config(workdir, size)
    results = {
        "cold": measured(snakemake_command(workdir, "-n")),
        "warm": measured(snakemake_command(workdir, "-n")),
    }
    screen_dir = finish_every_shard(workdir)
    results["aggregate"] = measured([sys.executable, __file__, "--aggregate-only", str(workdir)])
    results["dashboard"] = measured(
        [sys.executable, "-m", "omtx_report.cli", str(screen_dir)], cwd=REPO
    )
    status = ["status", "--configfile", str(config), "--outputs", str(workdir)]
    results["status"] = measured([sys.executable, "-m", "omtx_hub.cli", *status])
    return results


def docs_table(results: dict[int, dict], today: str) -> str:
    loads = [load for steps in results.values() for *_, load in steps.values()]
    lines = [
        f"Measured {today} with `python benchmarks/bookkeeping.py --sizes "
        f"{' '.join(map(str, results))} --write-docs` on {os.cpu_count()} cores, no GPU "
        f"(load average {min(loads):.1f}-{max(loads):.1f}); each cell: wall time (CPU seconds "
        "of all its processes), peak resident memory of its largest process:",
        "",
        "| ligands | " + " | ".join(STEPS.values()) + " |",
        "|---|" + "---|" * len(STEPS),
    ]
    for size, steps in results.items():
        cells = [
            f"{wall:.1f} s ({cpu:.1f} CPU s), {peak:.0f} MiB"
            for wall, cpu, peak, _ in steps.values()
        ]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--write-docs", action="store_true", help=f"write the table into {DOCS}")
    parser.add_argument("--keep", type=Path, help="work in DIR/<size> and keep it")
    parser.add_argument("--aggregate-only", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
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
        results[size] = one_size(size, workdir)
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
