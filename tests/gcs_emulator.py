"""A local Google Cloud Storage emulator (gcp-storage-emulator) for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path


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


def emulator_client(url: str, project: str = "test-project"):
    os.environ["STORAGE_EMULATOR_HOST"] = url
    from google.cloud import storage

    return storage.Client(project=project)
