"""A local Google Cloud Storage emulator (gcp-storage-emulator) for tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gcs_emulator(data_dir: Path | None = None):
    """Start the emulator on a free loopback port; yield its URL (for STORAGE_EMULATOR_HOST).
    In memory, or serving (and keeping) the buckets saved in `data_dir`."""
    port = _free_port()
    executable = Path(sys.executable).with_name("gcp-storage-emulator")
    where = ([f"--data-dir={data_dir}"], []) if data_dir else ([], ["--in-memory"])
    process = subprocess.Popen(
        [str(executable), *where[0], "start", "--host=127.0.0.1", f"--port={port}", *where[1]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the GCS emulator did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def emulated_gcs(project: str = "test-project", data_dir: Path | None = None):
    """A storage client of a fresh emulator (serving `data_dir`, if given). STORAGE_EMULATOR_HOST
    (which the Google client libraries, in this process and in subprocesses, read) is set while
    it runs and restored after, so no later test talks to a stopped emulator."""
    with gcs_emulator(data_dir) as url, pytest.MonkeyPatch.context() as environment:
        environment.setenv("STORAGE_EMULATOR_HOST", url)
        from google.cloud import storage

        yield storage.Client(project=project)
