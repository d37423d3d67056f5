"""Planning against a bucket: which targets of a 100,000-target screen are already stored.

Serves, from a GCS emulator (gcp-storage-emulator), a store holding the record.json of half
the targets, then prints requests and seconds of
- `ResultStore.stored`: one listing per fan-out directory (what planning uses), and
- one lookup per target, 32 in flight (what planning did before).

    python benchmarks/store_lookup.py [--targets 100000] [--skip-per-key]

The records are written into the emulator's data directory before it starts: through its
HTTP API every upload rewrites the emulator's whole object index (quadratic; 50,000 uploads
would take hours). The emulator answers a listing in one page; real GCS pages at 1,000
objects, so the listing line also prints the pages real GCS would need for the same store.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import prefill_bucket  # noqa: E402
from omtx_hub.store import LOOKUP_THREADS, GCSStore  # noqa: E402
from omtx_hub.store_layout import RECORD_FILE, entry_path, fan_out
from omtx_hub.testing.http_requests import RequestCounter  # noqa: E402
from tests.gcs_emulator import emulated_gcs  # noqa: E402

BUCKET = "omtx-benchmark"
GCS_PAGE = 1000


def timed(counter: RequestCounter, work):
    counter.count = 0
    started = time.perf_counter()
    result = work()
    return result, counter.count, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--skip-per-key", action="store_true")
    args = parser.parse_args()
    keys = [hashlib.sha256(f"target-{i}".encode()).hexdigest() for i in range(args.targets)]
    stored = keys[::2]
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        record = b'{"status": "completed"}'
        names = [f"store/{entry_path(key)}/{RECORD_FILE}" for key in stored]
        prefill_bucket(Path(data_dir), BUCKET, dict.fromkeys(names, record))
        print(
            f"store: {len(stored)} of {len(keys)} targets stored (written in "
            f"{time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        with emulated_gcs(data_dir=Path(data_dir)) as client:
            store = GCSStore(f"gs://{BUCKET}/store", client=client)
            measure(store, client, keys, stored, per_key=not args.skip_per_key)
    return 0


def measure(store, client, keys, stored, *, per_key: bool) -> None:
    counter = RequestCounter(client)
    found, requests, seconds = timed(counter, lambda: store.stored(keys))
    assert found == frozenset(stored)
    per_directory = Counter(fan_out(key) for key in stored)
    real_pages = sum(max(1, math.ceil(n / GCS_PAGE)) for n in per_directory.values())
    print(
        f"listing fan-out directories: {requests} requests, {seconds:.1f} s "
        f"(real GCS: {real_pages} pages of record.json objects)",
        flush=True,
    )
    if not per_key:
        return

    def one_by_one():
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            found = pool.map(store.has, keys)
            return {key for key, has in zip(keys, found, strict=True) if has}

    found, requests, seconds = timed(counter, one_by_one)
    assert found == set(stored)
    print(
        f"one lookup per target ({LOOKUP_THREADS} in flight): {requests} requests, {seconds:.1f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
