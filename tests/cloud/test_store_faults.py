"""Storage faults (issue 14, item 3): the GCS emulator behind a fault-injecting proxy on the
loopback interface (tests/fault_proxy.py). Commits and lookups retry through a bounded number
of 429/500/503 answers, dropped connections (before and after the request took effect), cut
answers and answers slower than the timeout, with google-cloud-storage's retry policy; once
the retry budget is spent the call fails naming the object; a commit cut short is never read
as an entry, nor a cut download as a complete file."""

from __future__ import annotations

import os

import pytest
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from omtx_hub.store import GCSStore, StoreError
from omtx_hub.store_layout import RECORD_FILE, entry_path
from tests.fault_proxy import FAULTS, FaultProxy
from tests.gcs_emulator import emulated_gcs

KEY = "ab" * 32
BUCKET = "omtx-faults"
STRUCTURE = b"data_model\n" + b"ATOM 1 C 0.0 0.0 0.0\n" * 200
RECORD = {"key": KEY, "status": "completed", "iptm": 0.5}
# Quick backoff and a read timeout below the proxy's slow answers, for a test's pace; the
# budget still covers every bounded fault below with room to spare. The budget of the tests
# that spend it is shorter.
TEST_RETRY = DEFAULT_RETRY.with_timeout(15).with_delay(initial=0.05, multiplier=2, maximum=0.5)
SHORT_BUDGET = TEST_RETRY.with_timeout(2)
TIMEOUT = (5, 1.0)
SLOW_S = 2.0

# Which requests each kind of call makes (paths of the JSON API under the proxy).
UPLOADS = "/upload/storage/v1/"
DOWNLOADS = "alt=media"
LISTINGS = f"/b/{BUCKET}/o?"


@pytest.fixture(scope="module")
def proxy():
    with emulated_gcs() as client:
        client.create_bucket(BUCKET)
        with FaultProxy(os.environ["STORAGE_EMULATOR_HOST"]).running() as proxy:
            yield proxy


def proxied_store(proxy, tmp_path, retry) -> GCSStore:
    proxy.clear()
    client = storage.Client(project="test-project", client_options={"api_endpoint": proxy.url})
    return GCSStore(
        f"gs://{BUCKET}/run-{tmp_path.name}", client=client, retry=retry, timeout=TIMEOUT
    )


@pytest.fixture
def store(proxy, tmp_path):
    return proxied_store(proxy, tmp_path, TEST_RETRY)


@pytest.fixture
def impatient_store(proxy, tmp_path):
    return proxied_store(proxy, tmp_path, SHORT_BUDGET)


def files(tmp_path) -> dict:
    structure = tmp_path / "structure.cif"
    structure.write_bytes(STRUCTURE)
    return {"structure.cif": structure}


def hits(proxy, kind: str) -> int:
    return sum(hit[0] == kind for hit in proxy.hits)


@pytest.mark.parametrize("kind", FAULTS)
def test_a_commit_goes_through_bounded_faults(store, proxy, tmp_path, kind):
    proxy.inject(kind, 2, path_contains=UPLOADS, delay_s=SLOW_S)
    store.commit(KEY, files(tmp_path), RECORD)
    assert hits(proxy, kind) == 2
    assert store.read_record(KEY) == RECORD
    store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert (tmp_path / "copy.cif").read_bytes() == STRUCTURE


@pytest.mark.parametrize("kind", FAULTS)
def test_lookups_go_through_bounded_faults(store, proxy, tmp_path, kind):
    store.commit(KEY, files(tmp_path), RECORD)
    # Each kind of request once: lookup, listing, record download, file download.
    proxy.inject(kind, 1, path_contains=f"{RECORD_FILE}?fields=name", delay_s=SLOW_S)
    assert store.has(KEY)
    proxy.inject(kind, 1, path_contains=LISTINGS, delay_s=SLOW_S)
    assert store.keys_in(KEY[:2]).keys() == {KEY}
    proxy.inject(kind, 2, path_contains=DOWNLOADS, delay_s=SLOW_S)
    assert store.read_record(KEY) == RECORD
    proxy.inject(kind, 1, path_contains=f"structure.cif?{DOWNLOADS}", delay_s=SLOW_S)
    store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert (tmp_path / "copy.cif").read_bytes() == STRUCTURE
    assert hits(proxy, kind) == 5


def test_a_spent_retry_budget_fails_naming_the_object(impatient_store, proxy, tmp_path):
    store = impatient_store
    # The structure goes up; every later upload (the record: the commit marker) fails.
    proxy.inject("503", 1000, path_contains=UPLOADS, skip=1)
    with pytest.raises(StoreError) as raised:
        store.commit(KEY, files(tmp_path), RECORD)
    record_object = f"gs://{BUCKET}/{store.prefix}/{entry_path(KEY)}/{RECORD_FILE}"
    assert str(raised.value).startswith(f"uploading {record_object} failed, retried")
    assert "503" in str(raised.value)
    proxy.clear()
    # What the cut commit left (the structure, no record) is not an entry.
    assert store.blob_names(f"{entry_path(KEY)}/") == [f"{entry_path(KEY)}/structure.cif"]
    assert not store.has(KEY) and store.stored([KEY]) == frozenset()
    store.commit(KEY, files(tmp_path), RECORD)
    assert store.read_record(KEY) == RECORD

    proxy.inject("500", 1000, path_contains=DOWNLOADS)
    with pytest.raises(StoreError, match=f"downloading {record_object} failed"):
        store.read_record(KEY)


def test_a_cut_download_is_never_taken_for_the_file(impatient_store, proxy, tmp_path):
    store = impatient_store
    store.commit(KEY, files(tmp_path), RECORD)
    # Every answer cut in half: the client sees each one short of its length, and retries
    # until the budget is spent; nothing short is ever returned or left in place.
    proxy.inject("truncate", 1000, path_contains=f"structure.cif?{DOWNLOADS}")
    with pytest.raises(StoreError, match="structure.cif failed"):
        store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert not (tmp_path / "copy.cif").exists()
