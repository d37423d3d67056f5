"""Planning against a bucket: which targets of a 100,000-target screen are already stored.

Fills a GCS emulator (gcp-storage-emulator) store with the record.json of half the targets
(written directly, as a shard commit leaves them), then prints requests and seconds of
- `ResultStore.stored`: one listing per fan-out directory (what planning uses), and
- one lookup per target, 32 in flight (what planning did before).

    python benchmarks/store_lookup.py [--targets 100000] [--skip-per-key]

The emulator answers a listing in one page; real GCS pages at 1,000 objects, so the listing
line also prints the pages real GCS would need for the same store.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omtx_hub.store import LOOKUP_THREADS, RECORD_FILE, GCSStore, entry_path, fan_out  # noqa: E402
from tests.gcs_emulator import emulator_client, gcs_emulator  # noqa: E402

GCS_PAGE = 1000
# gcp-storage-emulator resets connections beyond a few concurrent uploads.
FILL_THREADS = 4


class RequestCounter:
    def __init__(self, client):
        self.count = 0
        self._lock = threading.Lock()
        client._http.hooks["response"].append(self._seen)

    def _seen(self, response, *args, **kwargs):
        with self._lock:
            self.count += 1


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
    with gcs_emulator() as url:
        client = emulator_client(url)
        bucket = client.create_bucket("omtx-benchmark")
        store = GCSStore("gs://omtx-benchmark/store", client=client)
        started = time.perf_counter()
        with ThreadPoolExecutor(FILL_THREADS) as pool:
            list(pool.map(lambda key: bucket.blob(f"store/{entry_path(key)}/{RECORD_FILE}")
                          .upload_from_string(f'{{"key": "{key}"}}'), stored))  # fmt: skip
        print(f"filled: {len(stored)} of {len(keys)} targets stored "
              f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
        counter = RequestCounter(client)

        found, requests, seconds = timed(counter, lambda: store.stored(keys))
        assert found == frozenset(stored)
        per_directory = Counter(fan_out(key) for key in stored)
        real_pages = sum(max(1, math.ceil(n / GCS_PAGE)) for n in per_directory.values())
        print(f"listing fan-out directories: {requests} requests, {seconds:.1f} s "
              f"(real GCS: {real_pages} pages of record.json objects)")  # fmt: skip

        if not args.skip_per_key:

            def per_key():
                with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
                    return {
                        k for k, has in zip(keys, pool.map(store.has, keys), strict=True) if has
                    }

            found, requests, seconds = timed(counter, per_key)
            assert found == set(stored)
            print(f"one lookup per target ({LOOKUP_THREADS} in flight): {requests} requests, "
                  f"{seconds:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
