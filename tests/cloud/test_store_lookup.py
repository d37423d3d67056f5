"""Finding which of many keys a store holds: listings of fan-out directories, not one
request per key (issue 12, item 9); the screen status built on it, in a bucket (item 6)."""

from __future__ import annotations

import hashlib
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.progress import screen_progress
from omtx_hub.store import GCSStore, LocalStore
from omtx_hub.store_layout import entry_path, fan_out
from omtx_hub.testing.http_requests import RequestCounter
from omtx_hub.testing.synthetic import computed_entry, write_shard_manifest
from tests.gcs_emulator import emulated_gcs
from tests.screens import write_screen

# Enough keys (over 4 per fan-out directory) that listing is chosen over one lookup per key.
KEYS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(1100)]
STORED = KEYS[::2]


@pytest.fixture(scope="module")
def gcs_client():
    with emulated_gcs() as client:
        client.create_bucket("omtx-lookup")
        yield client


def fill(store, tmp_path, keys):
    structure = tmp_path / "structure.cif"
    structure.write_text("data_x\n")
    # (In parallel: a bucket commit is several requests, uploads and the read-back.)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda key: store.commit(key, {"structure.cif": structure}, {"key": key}), keys
            )
        )


def test_local_store_lists_what_it_holds(tmp_path):
    store = LocalStore(tmp_path / "store")
    fill(store, tmp_path, STORED)
    # Neither a commit killed mid-way nor files without a record are entries.
    unfinished = KEYS[1]
    (store.root / "targets" / fan_out(unfinished) / f".staging-{unfinished}-dead").mkdir()
    (store.root / entry_path(KEYS[3])).mkdir(parents=True)
    assert store.stored(KEYS) == frozenset(STORED)
    # A few keys are looked up one by one; the answer is the same.
    assert store.stored(KEYS[:4]) == {KEYS[0], KEYS[2]}
    assert LocalStore(tmp_path / "empty").stored(KEYS) == frozenset()


def test_bucket_lookup_costs_a_request_per_fan_out_directory(gcs_client, tmp_path):
    store = GCSStore(f"gs://omtx-lookup/{tmp_path.name}", client=gcs_client)
    fill(store, tmp_path, STORED)
    # An upload interrupted before its record (the commit marker) is not an entry.
    gcs_client.bucket("omtx-lookup").blob(
        f"{tmp_path.name}/{entry_path(KEYS[1])}/structure.cif"
    ).upload_from_string("partial")
    counter = RequestCounter(gcs_client)
    assert store.stored(KEYS) == frozenset(STORED)
    directories = len({fan_out(key) for key in KEYS})
    assert counter.count == directories <= 256  # one listing each (the emulator does not page)

    counter.count = 0
    assert store.stored(KEYS[:4]) == {KEYS[0], KEYS[2]}
    assert counter.count == 4  # one lookup per key: fewer requests than listing


def test_status_of_a_screen_in_a_bucket(gcs_client, tmp_path):
    """`omtx-hub status` on Google Batch: store and shard manifests both in the bucket."""
    raw = write_screen(tmp_path, shard_size=2, store=f"gs://omtx-lookup/{tmp_path.name}/store")
    config = load_config(raw)
    store = GCSStore(config.store, client=gcs_client)
    plan = build_plan(config, store)
    first, second = plan.shard("P1", "00000").targets
    fill(store, tmp_path, [first.key, plan.shard("P1", "00001").targets[0].key])
    outputs = f"gs://omtx-lookup/{tmp_path.name}/omtx-hub"
    # A valid manifest (the status reads it as a ShardManifest): first completed, second failed.
    entries = [
        computed_entry(plan, "P1", target, failed, random.Random(0))
        for target, failed in ((first, False), (second, True))
    ]
    manifest = write_shard_manifest(
        tmp_path / "00000.json", plan, "P1", "00000", entries, boltz_wall_s=50.0, job_wall_s=60.0
    )
    gcs_client.bucket("omtx-lookup").blob(
        f"{tmp_path.name}/omtx-hub/results/s1/shards/P1/00000.json"
    ).upload_from_filename(str(manifest))
    status = screen_progress(plan, store, GCSStore(outputs, client=gcs_client))
    assert [(s.shard, s.state) for s in status.shards] == [
        ("00000", "finished"),
        ("00001", "running"),
        ("00002", "waiting"),
    ]
    assert (status.count("completed"), status.count("failed"), status.count("pending")) == (2, 1, 2)
    assert status.recent_commits == 2  # committed just now, within the window
