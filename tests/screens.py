"""Small screens for tests: a config mapping plus its ligand sheet, written to a directory,
the one way tests run Snakemake on them, and a shard job built as the workflow builds it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from omtx_hub.layout import ScreenLayout
from omtx_hub.predict import ShardJob
from omtx_hub.result_tables import restored, result_dtypes

SNAKEFILE = Path(__file__).resolve().parents[1] / "workflow" / "Snakefile"

SMILES = ["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O"]
SHORT_PROTEIN = "MKTAYIAKQRQISFVKSHFS"
# Six ligands in one shard: Boltz is still predicting the rest when the first one is committed,
# which is when the crash and kill tests strike.
SIX_LIGANDS = ["CCO", "CCN", "CCCl", "c1ccccc1O", "CC(=O)Nc1ccccc1", "OCCN"]
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
        # Single-sequence: the default (`msa: server`) would ask the MSA server.
        "proteins": [{"name": "P1", "sequence": SHORT_PROTEIN, "msa": "empty"}],
        "ligands": str(sheet),
        "sharding": {"shard_size": shard_size},
        "store": str(directory / "store"),
    }
    raw.update(overrides)
    return raw


def write_six_ligand_screen(directory: Path, cache: Path) -> Path:
    """Write a screen of SIX_LIGANDS (m0-m5) in one shard, with the fast model on the test
    weights in `cache`, and its config file; the config file's path. The store is
    `directory`/store."""
    raw = write_screen(
        directory,
        rows=[(f"m{i}", smiles) for i, smiles in enumerate(SIX_LIGANDS)],
        shard_size=len(SIX_LIGANDS),
        model=FAST_MODEL,
        runtime=runtime(cache),
    )
    return write_config_file(directory, raw)


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


def start_screen_in_background(
    workdir: Path,
    config: Path,
    *arguments: str,
    stderr=subprocess.DEVNULL,
    start_new_session: bool = False,
) -> subprocess.Popen:
    """Start snakemake on `config` in `workdir` (`arguments` before --configfile) and return at
    once; `run.args` is the command, to run again. stdout is dropped, stderr goes to `stderr`;
    `start_new_session` puts snakemake and its jobs in a process group of their own, to kill
    them all at once."""
    return subprocess.Popen(
        snakemake_command(workdir, *arguments, "--configfile", str(config)),
        env=snakemake_env(),
        start_new_session=start_new_session,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def committed_records(store: Path) -> list[Path]:
    """The record.json of every target committed to the local store at `store`: not those of
    a commit still staged in a hidden `.staging-*` folder beside the entries (pathlib's glob
    matches hidden names; a marker that counted them fired before the commit's rename)."""
    return sorted(
        path
        for path in store.glob("targets/*/*/record.json")
        if not path.parent.name.startswith(".")
    )


def wait_for_first_commit(
    run: subprocess.Popen, store: Path, timeout_s: float = 600, stderr_file: Path | None = None
) -> None:
    """Wait until `run` has committed a target to the local store at `store`; fail if it ends
    first (showing the end of `stderr_file`, if given) or takes over `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not committed_records(store):
        ended = "the screen ended before any target was committed"
        if stderr_file is not None:
            ended = stderr_file.read_text()[-5000:]
        assert run.poll() is None, ended
        assert time.monotonic() < deadline
        time.sleep(0.1)


def shard_job(
    config, plan, store, directory: Path, protein: str, shard: str, **overrides
) -> ShardJob:
    """The job of `shard` of single-chain `protein` in `plan`, single-sequence (msa 'empty'):
    structures in `directory`/structures, manifest and log `directory`/<shard>.json and .log.
    `overrides` replace any argument."""
    arguments = {
        "spec": plan.shard(protein, shard),
        "receptor": config.protein(protein).receptor,
        "msas": {"A": "empty"},
        "model": config.model,
        "runtime": config.runtime,
        "store": store,
        "structures_dir": directory / "structures",
        "manifest": directory / f"{shard}.json",
        "log_file": directory / f"{shard}.log",
    }
    return ShardJob(**(arguments | overrides))


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """The job counts table of `snakemake -n`: rule -> jobs, and 'total'."""
    return {
        line.split()[0]: int(line.split()[1])
        for line in dry_run_output.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }


def running_screen_data(plan, store, results_dir: Path, *, with_text: bool = False):
    """The progress page's data of a running screen (omtx_report.progress) whose results are
    in `results_dir`; with `with_text`, (data, the terminal report)."""
    from omtx_hub.store import LocalStore
    from omtx_report.progress import screen_state

    data, text = screen_state(plan, store, LocalStore(Path(results_dir).parent), Path(results_dir))
    return (data, text) if with_text else data


# The Arrow type of each declared pandas dtype (docs/results.md, "Column types").
ARROW_TYPES = {
    "Int64": pa.int64(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.large_string(),
}


def csv_as_declared(path: Path) -> pd.DataFrame:
    """batch_results.csv read as docs/results.md says: each column of its declared dtype,
    every float exactly as written, empty cells missing, text as it was before the formula
    neutralisation."""
    dtypes = result_dtypes(pd.read_csv(path, nrows=0).columns)
    table = pd.read_csv(
        path, dtype=dtypes, keep_default_na=False, na_values=[""], float_precision="round_trip"
    )
    return restored(table).astype(dtypes)


def assert_parquet_is_the_csv(screen_dir: Path) -> pd.DataFrame:
    """batch_results.parquet holds exactly batch_results.csv's values, columns and order, of
    the declared pandas dtypes and Arrow types; returns it."""
    layout = ScreenLayout(screen_dir)
    parquet = pd.read_parquet(layout.parquet_table)
    expected = csv_as_declared(layout.table)
    declared = result_dtypes(expected.columns)
    assert {column: str(dtype) for column, dtype in parquet.dtypes.items()} == declared
    schema = pq.read_schema(layout.parquet_table)
    assert {field.name: field.type for field in schema} == {
        column: ARROW_TYPES[dtype] for column, dtype in declared.items()
    }
    pd.testing.assert_frame_equal(parquet, expected, check_exact=True)
    return parquet
