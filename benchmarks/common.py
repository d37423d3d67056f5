"""Shared benchmark helpers: timing a command with its peak memory, cached ligand sheets, a
bucket of the GCS emulator written straight into its data directory, a marked section of a
document rewritten."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "benchmarks"
ENV = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"}

# Runs a command and prints the peak RSS of its process tree's largest member, in KiB, and
# the CPU seconds of the whole tree (user and system).
_PEAK_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
    "used = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(used.ru_maxrss, used.ru_utime + used.ru_stime); sys.exit(rc)"
)


def measure(command: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """(wall seconds, peak MiB) of `command`; raises if it fails."""
    wall, _, peak = measure_with_cpu(command, cwd)
    return wall, peak


def measure_with_cpu(command: list[str], cwd: Path | None = None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of its processes, peak MiB) of `command`; raises if it
    fails. On a shared machine the CPU seconds vary less than the wall time."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_WRAPPER, *command],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    peak_kib, cpu = result.stdout.strip().splitlines()[-1].split()
    return wall, float(cpu), int(peak_kib) / 1024


def ligand_sheet(count: int) -> Path:
    """A sheet of `count` distinct drug-like compounds (generated once, then cached)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from ligand_library import write_sheet

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"ligands-{count}.csv"
    if not path.exists():
        staging = path.with_suffix(".partial")
        write_sheet(staging, count)
        staging.replace(path)
    return path


def snakemake_command(workdir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        "--quiet",
        *extra,
    ]


def prefill_bucket(data_dir: Path, bucket: str, objects: dict[str, bytes]) -> None:
    """Save `objects` (name -> content) into `bucket` in the GCS emulator's data directory,
    as its own uploads would, with one index write (gcp-storage-emulator 2026.7.19
    internals): through its HTTP API every upload rewrites the emulator's whole object
    index, which makes a big bucket take hours. Objects already saved there are kept; each
    object's `updated` time is when it was written here, in the order given."""
    from gcp_storage_emulator.handlers.objects import _make_object_resource
    from gcp_storage_emulator.storage import Storage

    storage = Storage(data_dir=str(data_dir))
    if bucket not in storage.buckets:
        storage.create_bucket(bucket, {"name": bucket})
    saved = storage.objects.setdefault(bucket, {})
    for name, content in objects.items():
        storage._store.write_bytes(storage._object_path(bucket, name), content)
        resource = _make_object_resource(
            "http://127.0.0.1", bucket, name, "application/octet-stream", len(content)
        )
        resource["md5Hash"] = base64.b64encode(
            hashlib.md5(content, usedforsecurity=False).digest()
        ).decode()
        saved[name] = resource
    storage._write_config_to_file()


def replace_marked_section(text: str, name: str, body: str) -> str:
    """`text` with what lies between the markers `<!-- name:start -->` and
    `<!-- name:end -->` replaced by `body`; raises ValueError without both markers."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    before, found_start, rest = text.partition(start)
    _, found_end, after = rest.partition(end)
    if not (found_start and found_end):
        raise ValueError(f"no section between {start!r} and {end!r} (both on their own lines)")
    return f"{before}{start}\n{body}\n{end}{after}"
