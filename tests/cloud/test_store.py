import json

import pytest

from omtx_hub.store import GCSStore, LocalStore
from omtx_hub.store_layout import entry_path
from tests.gcs_emulator import emulated_gcs

KEY = "ab" * 32


@pytest.fixture(scope="module")
def gcs_client():
    with emulated_gcs() as client:
        client.create_bucket("omtx-test")
        yield client


@pytest.fixture(params=["local", "gcs"])
def store(request, tmp_path, gcs_client):
    # (gcs_client is requested by every test, so its emulator environment is in place before
    # any test starts, not set in the middle of one.)
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return GCSStore(f"gs://omtx-test/run-{tmp_path.name}", client=gcs_client)


def test_commit_then_read(store, tmp_path):
    structure = tmp_path / "model.cif"
    structure.write_text("data_model\n")
    assert not store.has(KEY)
    store.commit(KEY, {"structure.cif": structure}, {"key": KEY, "status": "completed"})
    assert store.has(KEY)
    assert store.read_record(KEY) == {"key": KEY, "status": "completed"}
    store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert (tmp_path / "copy.cif").read_text() == "data_model\n"


def test_second_commit_of_same_key_is_harmless(store, tmp_path):
    source = tmp_path / "a.json"
    source.write_text("{}")
    store.commit(KEY, {"a.json": source}, {"n": 1})
    store.commit(KEY, {"a.json": source}, {"n": 1})
    assert store.read_record(KEY) == {"n": 1}


def test_blobs(store):
    assert store.read_blob("sheets/x.tsv") is None
    store.write_blob("sheets/x.tsv", b"a\tb\n")
    assert store.read_blob("sheets/x.tsv") == b"a\tb\n"


def test_blob_existence_and_digests(store):
    # What the planning process compares the plan's files with, and what a finished run looks
    # for before it names its results (omtx_hub.plan, omtx_hub.notify).
    assert not store.has_blob("plan/plan.json") and store.blob_md5s("plan/") == {}
    store.write_blob("plan/plan.json", b"{}")
    store.write_blob("plan/shards/P1/00000.json", b"[1]")
    store.write_blob("sheets/x.tsv", b"other")
    assert store.has_blob("plan/plan.json") and not store.has_blob("plan/shards")
    assert store.blob_md5s("plan/") == {
        "plan/plan.json": "99914b932bd37a50b983c5e7c90ae93b",
        "plan/shards/P1/00000.json": "35dba5d75538a9bbe0b4da4422759a0e",
    }


def test_local_partial_entry_is_invisible(tmp_path):
    store = LocalStore(tmp_path)
    # What a commit killed mid-way leaves behind: a staging directory, never the entry.
    staging = tmp_path / "targets" / KEY[:2] / f".staging-{KEY}-dead"
    staging.mkdir(parents=True)
    (staging / "structure.cif").write_text("partial")
    assert not store.has(KEY)
    # Files without their record (e.g. a copied-in directory) are not an entry either.
    entry = tmp_path / entry_path(KEY)
    entry.mkdir(parents=True)
    (entry / "structure.cif").write_text("x")
    assert not store.has(KEY)


def test_gcs_upload_without_record_is_invisible(gcs_client, tmp_path):
    store = GCSStore("gs://omtx-test/partial", client=gcs_client)
    # An upload interrupted before the record (the commit marker) was written.
    gcs_client.bucket("omtx-test").blob(
        f"partial/{entry_path(KEY)}/structure.cif"
    ).upload_from_string("x")
    assert not store.has(KEY)
    source = tmp_path / "s.cif"
    source.write_text("y")
    store.commit(KEY, {"structure.cif": source}, {"ok": True})
    blob = gcs_client.bucket("omtx-test").blob(f"partial/{entry_path(KEY)}/record.json")
    assert json.loads(blob.download_as_bytes())["files"]["structure.cif"]["bytes"] == 1
    assert store.read_record(KEY) == {"ok": True}
    store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert (tmp_path / "copy.cif").read_text() == "y"
