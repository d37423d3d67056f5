"""A rerun of a finished screen on Google Batch: its requests to Cloud Storage, by kind.

For each size it sets up, in a GCS emulator (gcp-storage-emulator), what a finished screen
leaves in its bucket: the result store with every target's entry, and under the profile's
default storage prefix the plan, each shard's manifest, structures (one CIF per target) and
benchmark, the summary, the table and the dashboard. Then, in this process, it runs what a
user runs again: `snakemake --profile profiles/googlebatch` with the fake Batch client of
the cloud tests, as a dry run (-n) and as a run, and prints every request to Cloud Storage
(the storage plugin's and omtx_hub.store's, counted at the HTTP boundary) by kind, the pages
real Cloud Storage would need (it pages a listing at 1,000 objects; the emulator answers in
one), and seconds. Two sizes with the same shard size show whether requests grow with the
shards or with the targets. Each rerun must find nothing to do, submit nothing and write
nothing, or the benchmark stops: then the screen it set up was not a finished one.

    python benchmarks/rerun_requests.py [--sizes 10000 100000] [--shard-size 100]

The bucket is written into the emulator's data directory before it starts (through its HTTP
API every upload rewrites its whole object index: hours for a big screen). The plan is the
one the workflow's planning computes (omtx_hub.plan.build_plan on the same config, against
the same store), so the rerun finds it unchanged. Store entries hold their record.json only:
the store's listings ask for record.json objects alone (matchGlob), so an entry's other
files change no request.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# (The Google client libraries warn of Python 3.11's end of life on import.)
warnings.simplefilter("ignore", FutureWarning)

from benchmarks.common import REPO, ligand_sheet, prefill_bucket  # noqa: E402
from omtx_hub import layout  # noqa: E402
from omtx_hub.config import load_config  # noqa: E402
from omtx_hub.plan import build_plan  # noqa: E402
from omtx_hub.store import GCSStore  # noqa: E402
from omtx_hub.store_layout import RECORD_FILE, entry_path  # noqa: E402
from omtx_hub.testing.http_requests import CloudStorageRequests  # noqa: E402
from tests.cloud.test_googlebatch import (  # noqa: E402
    FAST_MODEL,
    PROJECT,
    REGION,
    FakeBatchService,
    run_snakemake,
)
from tests.gcs_emulator import emulated_gcs  # noqa: E402
from tests.screens import SHORT_PROTEIN  # noqa: E402

BUCKET = "omtx-rerun"
PREFIX = "omtx-hub"  # the profile's default-storage-prefix, gs://$OMTX_BUCKET/omtx-hub
SCREEN = "s1"
# The workflow's sources and config, as the cloud tests' checkout copies them.
SOURCES = ("workflow", "omtx_hub", "omtx_report", "config", "profiles")


def make_checkout(root: Path, targets: int, shard_size: int) -> dict:
    """A git checkout of the workflow with a screen of `targets` ligands against one
    protein, set up as docs/google-batch.md says; the screen's config mapping."""
    for part in SOURCES:
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ligand_sheet(targets), root / "ligands.csv")
    screen = {
        "screen": {"name": SCREEN},
        "proteins": [{"name": "P1", "sequence": SHORT_PROTEIN, "msa": "empty"}],
        "ligands": "ligands.csv",
        "sharding": {"shard_size": shard_size},
        "store": f"gs://{BUCKET}/store",
        "model": FAST_MODEL,
    }
    (root / "screen.yaml").write_text(yaml.safe_dump(screen, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    return screen


def workflow_config(root: Path, screen: dict) -> dict:
    """The config Snakemake gives the workflow: config/config.yaml (the Snakefile's
    `configfile:`) updated with the screen's file and the `--config` run_snakemake passes."""
    from snakemake.utils import update_config

    config = yaml.safe_load((root / "config/config.yaml").read_text())
    update_config(config, screen)
    update_config(config, {"runtime": {}})
    return config


def finished_screen(data_dir: Path, root: Path, screen: dict) -> int:
    """Fill the bucket with what the finished screen left there; its shard count."""
    prefill_bucket(data_dir, BUCKET, {})
    with emulated_gcs(PROJECT, data_dir=data_dir), pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(root)
        # Planning validates the sheet and keeps it in the store, as the first run did.
        plan = build_plan(load_config(workflow_config(root, screen)), GCSStore(screen["store"]))
    record = b'{"status": "completed"}'
    objects = {f"store/{entry_path(t.key)}/{RECORD_FILE}": record for t in plan.targets()}
    # Written in this order, each object newer than the last: the plan, then the shards'
    # outputs, then what is made from them.
    objects |= {f"{PREFIX}/{name}": data for name, data in plan.files().items()}
    for (protein, shard), spec in plan.shards.items():
        names = {"screen": SCREEN, "protein": protein, "shard": shard}
        manifest = {"screen": SCREEN, "protein": protein, "shard": shard}
        objects[f"{PREFIX}/{layout.MANIFEST.format(**names)}"] = json.dumps(manifest).encode()
        benchmark = layout.benchmark_pattern("boltz_predict_shard", "protein", "shard")
        objects[f"{PREFIX}/{benchmark.format(**names)}"] = b"s\n1\n"
        structures = layout.SHARD_STRUCTURES.format(**names)
        for ligand in (row for target in spec.targets for row in target.ligands):
            name = f"{SCREEN}_{protein}_{ligand.index}_{ligand.ligand_id}.cif"
            objects[f"{PREFIX}/{structures}/{name}"] = b"data_x\n"
    for pattern in (layout.SUMMARY, layout.TABLE):
        objects[f"{PREFIX}/{pattern.format(screen=SCREEN)}"] = b"{}"
    objects[f"{PREFIX}/{layout.REPORT.format(screen=SCREEN)}/index.html"] = b"<html></html>"
    prefill_bucket(data_dir, BUCKET, objects)
    return len(plan.shards)


def rerun(data_dir: Path, root: Path, *arguments: str) -> tuple[CloudStorageRequests, float]:
    """`snakemake --profile profiles/googlebatch *arguments` in `root`, as the cloud tests
    run it: its requests to Cloud Storage and seconds. It must submit and write nothing (a
    job run here, such as the aggregation, would upload its outputs)."""
    batch = FakeBatchService()
    environment = {
        "SNAKEMAKE_GOOGLEBATCH_PROJECT": PROJECT,
        "SNAKEMAKE_GOOGLEBATCH_REGION": REGION,
        "SNAKEMAKE_STORAGE_GCS_PROJECT": PROJECT,
        "OMTX_BUCKET": BUCKET,
        "HOME": str(root.parent / "home"),
    }
    with (
        emulated_gcs(PROJECT, data_dir=data_dir),
        pytest.MonkeyPatch.context() as monkeypatch,
        CloudStorageRequests() as sent,
    ):
        monkeypatch.chdir(root)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        started = time.perf_counter()
        with terminal_copied(root.parent / "terminal.txt") as terminal:
            status = run_snakemake(monkeypatch, batch, *arguments, runtime={})
        seconds = time.perf_counter() - started
    if "Nothing to be done" not in terminal.read_text():
        raise RuntimeError(
            "snakemake found jobs to run (its output is above): the screen set up was not "
            "finished in its eyes"
        )
    uploads = sum(count for (_, kind), count in sent.kinds.items() if kind == "upload")
    if status != 0 or batch.requests or uploads:
        raise RuntimeError(
            f"the rerun failed ({status}), submitted {len(batch.requests)} jobs or wrote "
            f"{uploads} objects: the screen set up was not finished in Snakemake's eyes"
        )
    return sent, seconds


@contextmanager
def terminal_copied(path: Path):
    """Copy what this process writes to its stdout and stderr (Snakemake's log, whose handler
    holds the file descriptors) into `path` as well as to the terminal, afterwards."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with path.open("wb") as copy:
        os.dup2(copy.fileno(), 1)
        os.dup2(copy.fileno(), 2)
        try:
            yield path
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
    os.write(1, path.read_bytes())


def measure(targets: int, shard_size: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        root, data_dir = scratch / "checkout", scratch / "gcs"
        root.mkdir()
        data_dir.mkdir()
        (scratch / "home").mkdir()
        started = time.perf_counter()
        screen = make_checkout(root, targets, shard_size)
        shards = finished_screen(data_dir, root, screen)
        print(
            f"{targets} targets, {shards} shards of {shard_size}: finished screen set up in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        for label, arguments in (("dry run (-n)", ["-n"]), ("run", [])):
            sent, seconds = rerun(data_dir, root, *arguments)
            print(
                f"  rerun, {label}: {sent.total} requests ({sent.total / shards:.1f} per "
                f"shard), {sent.pages.total()} pages on real GCS, {seconds:.0f} s",
                flush=True,
            )
            for caller, kinds in sent.by_caller().items():
                listed = ", ".join(f"{kind} {count}" for kind, count in kinds.items())
                pages = sent.pages[caller]
                print(f"    {caller}: {kinds.total()} ({listed}; {pages} pages)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--shard-size", type=int, default=100)
    args = parser.parse_args()
    for targets in args.sizes:
        measure(targets, args.shard_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
