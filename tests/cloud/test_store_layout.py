"""Where the store puts an entry (the layout other tools and older runs rely on), local and on
the GCS emulator, and what a failed commit leaves behind."""

from __future__ import annotations

import pytest

from omtx_hub.store import GCSStore, LocalStore, open_store
from omtx_hub.store_layout import (
    CHEMISTRY_OBJECT,
    FAILURE_OBJECT,
    MOLECULES_OBJECT,
    OBJECT_KINDS,
    SERVER_MSA_OBJECT,
    SHEET_OBJECT,
    TRIAGE_OBJECT,
    entry_path,
    object_at,
    object_path,
)
from tests.gcs_emulator import emulated_gcs

KEY = "cd" * 32
BUCKET = "omtx-layout"


@pytest.fixture(scope="module")
def gcs_client():
    with emulated_gcs() as client:
        client.create_bucket(BUCKET)
        yield client


def test_entry_path_fans_out_by_the_first_two_characters():
    assert entry_path(KEY) == f"targets/cd/{KEY}"


def commit_one(store, tmp_path) -> None:
    source = tmp_path / "structure.cif"
    source.write_text("data_x\n")
    store.commit(KEY, {"structure.cif": source}, {"key": KEY})


def test_local_layout(tmp_path):
    store = open_store(str(tmp_path / "store"))
    assert isinstance(store, LocalStore) and store.location == str(tmp_path / "store")
    commit_one(store, tmp_path)
    entry = tmp_path / "store" / "targets" / "cd" / KEY
    assert sorted(p.name for p in entry.iterdir()) == ["record.json", "structure.cif"]
    assert [p.name for p in entry.parent.iterdir()] == [KEY]  # no staging directory left


@pytest.mark.parametrize(
    ("url", "prefix"),
    [(f"gs://{BUCKET}/screens/run-1/", "screens/run-1/"), (f"gs://{BUCKET}", "")],
)
def test_gcs_layout_under_nested_and_empty_prefixes(gcs_client, tmp_path, url, prefix):
    store = GCSStore(url, client=gcs_client)
    assert store.location == url
    commit_one(store, tmp_path)
    store.write_blob("sheets/s.tsv", b"x")
    names = {blob.name for blob in gcs_client.list_blobs(BUCKET, prefix=prefix)}
    assert {
        f"{prefix}targets/cd/{KEY}/record.json",
        f"{prefix}targets/cd/{KEY}/structure.cif",
        f"{prefix}sheets/s.tsv",
    } <= names
    assert store.has(KEY)


@pytest.mark.parametrize(
    ("variables", "project"),
    [
        ({"SNAKEMAKE_STORAGE_GCS_PROJECT": "p-one", "GOOGLE_CLOUD_PROJECT": "p-two"}, "p-one"),
        ({"GOOGLE_CLOUD_PROJECT": "p-two"}, "p-two"),
    ],
)
def test_gcs_project_comes_from_the_environment(gcs_client, monkeypatch, variables, project):
    for name in ("SNAKEMAKE_STORAGE_GCS_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    store = open_store(f"gs://{BUCKET}/p")
    assert isinstance(store, GCSStore) and store.client.project == project


def test_failed_local_commit_leaves_nothing(tmp_path):
    store = LocalStore(tmp_path / "store")
    with pytest.raises(FileNotFoundError):
        store.commit(KEY, {"structure.cif": tmp_path / "missing.cif"}, {"key": KEY})
    assert not store.has(KEY)
    assert list((tmp_path / "store" / "targets" / "cd").iterdir()) == []


def test_every_sealed_object_is_found_by_its_path():
    # `store verify` and the failure listing read an object's kind and key from its path.
    keys = {
        FAILURE_OBJECT: KEY,
        SHEET_OBJECT: f"{KEY}-v1-rdkit2024-aff1-salts-strip-mols1",
        MOLECULES_OBJECT: "v1-rdkit2024-aff1-salts-strip/ab",
        CHEMISTRY_OBJECT: "c1-rdkit2024/ab",
        SERVER_MSA_OBJECT: KEY,
        TRIAGE_OBJECT: f"pose-v1/{KEY}",
    }
    for kind in OBJECT_KINDS:
        assert object_at(object_path(kind, keys[kind])) == (kind, keys[kind])
    # Not sealed objects: a server MSA's chain file, an earlier version's sheet cache, a
    # key-scheme marker, names outside the layout.
    for name in (f"msa/{KEY}/0.csv", f"sheets/{KEY}.tsv", "key-schemes/2.json", "x/a.json"):
        assert object_at(name) is None
    assert object_at(f"failures/x/{KEY}.json") is None and object_at("molecules/ab.json") is None
    assert object_at(f"triage/{KEY}.json") is None
