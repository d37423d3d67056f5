"""Aggregation scale: building summary.json, batch_results.csv and batch_results.parquet for
100,000 results.

Writes a screen of N ligands (one protein, shards of 100) with one shard manifest per shard, as
the GPU jobs write them (every score filled in), then runs the aggregation step in a fresh
process exactly as the workflow's `aggregate_screen` rule does (plan from the cached sheet, read
the manifests, rank, write the files). Prints wall time and peak memory of that process, and
the time of the aggregation itself. Then, each in a fresh process: the time to write
batch_results.parquet from the results table (built first, untimed), and pandas' load time of
the Parquet file and of the CSV (`pd.read_parquet`, `pd.read_csv`), with both files' sizes.

    python benchmarks/aggregate_scale.py [--ligands 100000]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from common import ENV, ligand_sheet, measure

from omtx_hub.aggregate import read_manifests, results_table, write_parquet, write_results
from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.records import SCORE_FIELDS
from omtx_hub.store import open_store
from omtx_hub.testing.synthetic import write_shard_manifest


def plan_for(workdir: Path):
    config = load_config(yaml.safe_load((workdir / "config.yaml").read_text()))
    return build_plan(config, open_store(config.store))


def write_manifests(workdir: Path) -> list[Path]:
    plan = plan_for(workdir)
    randomness = random.Random(0)
    weights = {"identity": "bench", "released": False, "note": "benchmark"}
    paths = []
    for (protein, shard), content in plan.shards.items():
        records = [
            {
                "key": t.key,
                "protein": protein,
                "ligands": t.ligands,
                "smiles": t.smiles,
                "status": "completed",
                "error": None,
                "source": "computed",
                "weights": weights,
                **{field: randomness.uniform(-3, 1) for field in SCORE_FIELDS},
                "structures": {a.ligand_id: f"x_{a.ligand_id}.cif" for a in t.ligands},
            }
            for t in content.targets
        ]
        path = write_shard_manifest(
            workdir / "shards" / f"{protein}-{shard}.json",
            plan,
            protein,
            shard,
            records,
            boltz_wall_s=1.0,
            job_wall_s=1.0,
        )
        paths.append(path)
    return paths


def aggregate(workdir: Path) -> None:
    """The measured step, in its own process."""
    started = time.perf_counter()
    plan = plan_for(workdir)
    manifests = sorted((workdir / "shards").glob("*.json"))
    write_results(
        plan,
        manifests,
        workdir / "batch_results.csv",
        workdir / "summary.json",
        parquet_path=workdir / "batch_results.parquet",
    )
    print(
        f"aggregation of {plan.target_count} targets: {time.perf_counter() - started:.2f} s",
        file=sys.stderr,
    )


def write_parquet_only(workdir: Path) -> None:
    """Prints the seconds write_parquet takes for the screen's results table."""
    plan = plan_for(workdir)
    rows, _ = read_manifests(sorted((workdir / "shards").glob("*.json")))
    table = results_table(plan, rows)
    started = time.perf_counter()
    write_parquet(table, workdir / "again.parquet")
    print(time.perf_counter() - started)


def load_only(workdir: Path) -> None:
    """Prints the seconds pandas takes to load batch_results.parquet, then the CSV (imports
    done before)."""
    seconds = []
    for load, name in (
        (pd.read_parquet, "batch_results.parquet"),
        (pd.read_csv, "batch_results.csv"),
    ):
        started = time.perf_counter()
        load(workdir / name)
        seconds.append(time.perf_counter() - started)
    print(*seconds)


def seconds_printed(mode: str, workdir: Path) -> list[float]:
    """The seconds a fresh process of this script in `mode` prints."""
    printed = subprocess.run(
        [sys.executable, __file__, mode, str(workdir)],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [float(number) for number in printed.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ligands", type=int, default=100_000)
    parser.add_argument("--aggregate-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--parquet-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--load-only", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    for mode, step in (
        (arguments.aggregate_only, aggregate),
        (arguments.parquet_only, write_parquet_only),
        (arguments.load_only, load_only),
    ):
        if mode:
            step(mode)
            return
    workdir = Path(tempfile.mkdtemp(prefix="omtx-aggregate-"))
    (workdir / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "screen": {"name": "scale"},
                "proteins": [{"name": "P1", "sequence": "MKTAYIAKQR"}],
                "ligands": str(ligand_sheet(arguments.ligands)),
                "store": str(workdir / "store"),
            }
        )
    )
    manifests = write_manifests(workdir)
    wall, peak = measure([sys.executable, __file__, "--aggregate-only", str(workdir)])
    rows = len((workdir / "batch_results.csv").read_text().splitlines()) - 1
    print(f"{'ligands':>8} {'manifests':>9} {'csv rows':>8} {'wall s':>7} {'peak MiB':>9}")
    print(f"{arguments.ligands:>8} {len(manifests):>9} {rows:>8} {wall:>7.2f} {peak:>9.0f}")
    [write_s] = seconds_printed("--parquet-only", workdir)
    parquet_s, csv_s = seconds_printed("--load-only", workdir)
    mib = {
        name: (workdir / f"batch_results.{name}").stat().st_size / 2**20
        for name in ("parquet", "csv")
    }
    print(
        f"{'rows':>8} {'parquet write s':>15} {'parquet MiB':>11} {'csv MiB':>7} "
        f"{'pandas load parquet s':>21} {'pandas load csv s':>17}"
    )
    print(
        f"{rows:>8} {write_s:>15.2f} {mib['parquet']:>11.1f} {mib['csv']:>7.1f} "
        f"{parquet_s:>21.2f} {csv_s:>17.2f}"
    )


if __name__ == "__main__":
    main()
