"""Small screens for tests: a config mapping plus its ligand sheet, written to a directory,
and the one way tests run Snakemake on them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

SNAKEFILE = Path(__file__).resolve().parents[1] / "workflow" / "Snakefile"

SMILES = ["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O"]
SHORT_PROTEIN = "MKTAYIAKQRQISFVKSHFS"
# Boltz settings that make a CPU prediction with the test model take seconds.
FAST_MODEL = {
    "recycling_steps": 0,
    "sampling_steps": 2,
    "diffusion_samples": 1,
    "sampling_steps_affinity": 2,
    "diffusion_samples_affinity": 1,
    "seed": 0,
}


def runtime(cache: Path) -> dict:
    """CPU, fp32, no loader workers or kernels: the test model's fast path."""
    return {
        "accelerator": "cpu",
        "precision": "32",
        "cache": str(cache),
        "num_workers": 0,
        "use_kernels": False,
    }


def write_screen(
    directory: Path, *, rows=None, shard_size: int = 2, extra_columns: str = "", **overrides
) -> dict:
    """Write ligands.csv (rows of (name, smiles[, extra...])) and return the config mapping."""
    rows = rows if rows is not None else [(f"L{i}", s) for i, s in enumerate(SMILES)]
    sheet = directory / "ligands.csv"
    header = "name,smiles" + (f",{extra_columns}" if extra_columns else "")
    sheet.write_text(header + "\n" + "".join(",".join(row) + "\n" for row in rows))
    raw = {
        "screen": {"name": "s1"},
        "proteins": [{"name": "P1", "sequence": SHORT_PROTEIN}],
        "ligands": str(sheet),
        "sharding": {"shard_size": shard_size},
        "store": str(directory / "store"),
    }
    raw.update(overrides)
    return raw


def write_config_file(directory: Path, raw: dict, name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def snakemake_command(workdir: Path, *arguments: str, snakefile: Path = SNAKEFILE) -> list[str]:
    """`snakemake` on the workflow (or `snakefile`), run in `workdir`, on two cores."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *arguments,
    ]


def snakemake_env() -> dict[str, str]:
    """The environment of a snakemake subprocess: google-api-core's deprecation warnings off."""
    return {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"}


def run_snakemake(
    workdir: Path, *arguments: str, snakefile: Path = SNAKEFILE
) -> subprocess.CompletedProcess:
    """Run snakemake to the end; the finished process (text stdout and stderr), or a failed
    assertion that shows the end of both."""
    result = subprocess.run(
        snakemake_command(workdir, *arguments, snakefile=snakefile),
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
    return result


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """The job counts table of `snakemake -n`: rule -> jobs, and 'total'."""
    return {
        line.split()[0]: int(line.split()[1])
        for line in dry_run_output.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
