"""Planning scale: `snakemake -n` of screens of 1k, 10k and 100k ligands (one protein).

For each size it prints wall time, CPU seconds (all its processes) and peak memory of
- a cold dry-run (fresh store: every SMILES is validated with RDKit),
- a warm dry-run (the validated sheet comes from the store's cache),
- a dry-run of a new sheet of the same compounds (renamed, in reverse order): a sheet not
  validated before whose SMILES are (omtx_hub.validated_molecules),
- the parse a remote job does on its VM (`--mode remote --target-jobs` one shard), which reads
  its shard's spec from the plan, whatever the screen's size (issue 18: at most 1.5x its time
  at the smallest size, under 5 s),
and the same dry-run for a bare Snakemake toy with one job per ligand, as the baseline; with
the machine's one-minute load average before each (other work on the machine stretches the
wall time, the CPU seconds less).

    python benchmarks/plan_scale.py [--sizes 1000 10000 100000] [--toy-sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from common import ligand_sheet, measure_with_cpu, snakemake_command

CONFIG = """screen: {{name: scale}}
proteins: [{{name: P1, sequence: MKTAYIAKQRQISFVKSHFS, msa: empty}}]
ligands: {sheet}
store: store
sharding: {{shard_size: {shard_size}}}
"""

TOY = """import pandas as pd
ligands = pd.read_csv("{sheet}").set_index("name", drop=False)

rule all:
    input: expand("out/{{name}}.txt", name=ligands.index)

rule predict:
    output: "out/{{name}}.txt"
    params: smiles=lambda wc: ligands.loc[wc.name, "smiles"]
    shell: "echo {{params.smiles}} > {{output}}"
"""


def loaded(measuring, *arguments, **keywords) -> tuple:
    """What `measuring` measures, and the machine's load average (one minute) before it."""
    load = os.getloadavg()[0]
    return (*measuring(*arguments, **keywords), load)


def ours(size: int, shard_size: int, workdir: Path) -> dict:
    (workdir / "config.yaml").write_text(
        CONFIG.format(sheet=ligand_sheet(size), shard_size=shard_size)
    )
    cold = loaded(measure_with_cpu, snakemake_command(workdir, "-n"))
    warm = loaded(measure_with_cpu, snakemake_command(workdir, "-n"))
    renamed = workdir / "renamed.csv"
    header, *rows = ligand_sheet(size).read_text().splitlines()
    renamed.write_text("\n".join([header, *(f"re-{row}" for row in reversed(rows))]) + "\n")
    (workdir / "config.yaml").write_text(CONFIG.format(sheet=renamed, shard_size=shard_size))
    known = loaded(measure_with_cpu, snakemake_command(workdir, "-n"))
    remote = loaded(
        measure_with_cpu,
        snakemake_command(
            workdir,
            "-n",
            "--mode",
            "remote",
            "--target-jobs",
            "boltz_predict_shard:screen=scale,protein=P1,shard=00000",
        ),
    )
    return {"cold": cold, "warm": warm, "known": known, "remote": remote}


def toy(size: int, workdir: Path) -> tuple[float, float, float, float]:
    (workdir / "Snakefile").write_text(TOY.format(sheet=ligand_sheet(size)))
    command = [sys.executable, "-m", "snakemake", "-n", "--quiet", "--cores", "2"]
    return loaded(measure_with_cpu, command, cwd=workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--toy-sizes", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--shard-size", type=int, default=100)
    arguments = parser.parse_args()

    header = f"{'ligands':>8} {'what':<34} {'wall s':>8} {'CPU s':>7} {'peak MiB':>9} {'load':>5}"
    print(header)
    results = {}
    for size in arguments.sizes:
        workdir = Path(tempfile.mkdtemp(prefix=f"omtx-plan-{size}-"))
        results[size] = ours(size, arguments.shard_size, workdir)
        labels = {
            "cold": "dry-run, cold (validates SMILES)",
            "warm": "dry-run, warm (cached sheet)",
            "known": "dry-run, new sheet, known SMILES",
            "remote": "remote job parse (one shard)",
        }
        for kind, (wall, cpu, peak, load) in results[size].items():
            print(
                f"{size:>8} {labels[kind]:<34} {wall:>8.2f} {cpu:>7.1f} {peak:>9.0f} {load:>5.1f}",
                flush=True,
            )
        shutil.rmtree(workdir)
    if len(results) > 1:
        smallest, largest = min(results), max(results)
        ratio = results[largest]["remote"][0] / results[smallest]["remote"][0]
        print(f"remote job parse: {largest:,} ligands take {ratio:.2f}x the time of {smallest:,}")
    for size in arguments.toy_sizes:
        workdir = Path(tempfile.mkdtemp(prefix=f"omtx-toy-{size}-"))
        wall, cpu, peak, load = toy(size, workdir)
        shutil.rmtree(workdir)
        line = (
            f"{size:>8} {'toy: one job per ligand, dry-run':<34} {wall:>8.2f} {cpu:>7.1f} "
            f"{peak:>9.0f} {load:>5.1f}"
        )
        if size in results:
            line += f"   ({wall / results[size]['cold'][0]:.1f}x our cold dry-run)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
