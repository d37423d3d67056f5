"""The store never serves a bad entry (issue 14, item 2): each entry is sealed at commit (every
file's sha256 and size, the record's own sha256); an entry whose file is missing, truncated or
altered, or whose record was edited or cut short, is detected when read, named with the file
and the reason, and moved aside so that its target is computed again. Local and on the GCS
emulator; `omtx-hub store verify` finds and quarantines such entries."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest

import omtx_hub.store as store_module
from omtx_hub.cli import main
from omtx_hub.failures import record_failure, recorded_failures
from omtx_hub.fileio import sha256_bytes
from omtx_hub.predict import ShardError
from omtx_hub.records import TargetRecord
from omtx_hub.store import CorruptEntry, GCSStore, LocalStore, StoreError, seal_object
from omtx_hub.store_layout import (
    CHEMISTRY_OBJECT,
    FAILURE_OBJECT,
    MOLECULES_OBJECT,
    OBJECT_KINDS,
    QUARANTINE_REASON_FILE,
    RECORD_FILE,
    SERVER_MSA_OBJECT,
    SHEET_OBJECT,
    TRIAGE_OBJECT,
    entry_path,
    object_path,
)
from omtx_hub.testing.synthetic import fake_record, make_plan
from omtx_hub.testing.synthetic import write_screen as write_synthetic_screen
from tests.gcs_emulator import emulated_gcs
from tests.screens import running_screen_data, shard_job, write_config_file, write_screen

KEY = "ab" * 32
OTHER = "ac" * 32
WEIGHTS = {"identity": "test", "released": False, "note": "test weights"}
BUCKET = "omtx-integrity"
STRUCTURE = b"data_model\n_atom_site.id 1\n" * 20


@pytest.fixture(scope="module")
def gcs_client():
    with emulated_gcs() as client:
        client.create_bucket(BUCKET)
        yield client


@pytest.fixture(params=["local", "gcs"])
def store(request, tmp_path, gcs_client):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return GCSStore(f"gs://{BUCKET}/run-{tmp_path.name}", client=gcs_client)


def write_raw(store, key: str, name: str, data: bytes | None) -> None:
    """Change a stored file behind the store's back (None deletes it)."""
    if isinstance(store, LocalStore):
        path = store.root / entry_path(key) / name
        path.unlink() if data is None else path.write_bytes(data)
    else:
        blob = store.bucket.blob(store._entry_name(key, name))
        blob.delete() if data is None else blob.upload_from_string(data)


def commit(store, tmp_path, key: str = KEY) -> None:
    structure = tmp_path / "model.cif"
    structure.write_bytes(STRUCTURE)
    confidence = tmp_path / "confidence.json"
    confidence.write_text('{"confidence_score": 0.5}')
    store.commit(
        key,
        {"structure.cif": structure, "confidence.json": confidence},
        {"key": key, "status": "completed", "iptm": 0.25},
    )


def altered_byte(data: bytes) -> bytes:
    return data[:10] + bytes([data[10] ^ 1]) + data[11:]


def edited_record(data: bytes) -> bytes:
    content = json.loads(data)
    content["iptm"] = 0.99  # the seal (record_sha256) left as it was
    return json.dumps(content).encode()


# (file, how it is damaged, what the report says about it)
CORRUPTIONS = {
    "missing file": ("structure.cif", lambda data: None, "structure.cif: missing"),
    "truncated file": (
        "structure.cif",
        lambda data: data[: len(data) // 2],
        f"structure.cif: truncated: {len(STRUCTURE) // 2} bytes, {len(STRUCTURE)} recorded",
    ),
    "altered byte": (
        "confidence.json",
        altered_byte,
        "confidence.json: altered: its sha256 is not the one recorded at commit",
    ),
    "edited record": (RECORD_FILE, edited_record, "record.json: edited"),
    "truncated record": (
        RECORD_FILE,
        lambda data: data[: len(data) // 2],
        "record.json: not valid JSON",
    ),
    "missing record": (RECORD_FILE, lambda data: None, "record.json: missing"),
}


def test_a_sealed_entry_reads_back_as_committed(store, tmp_path):
    commit(store, tmp_path)
    raw = json.loads(store.read_entry_file(KEY, RECORD_FILE))
    assert raw["files"]["structure.cif"]["bytes"] == len(STRUCTURE)
    assert len(raw["record_sha256"]) == 64
    assert store.read_record(KEY) == {"key": KEY, "status": "completed", "iptm": 0.25}
    store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert (tmp_path / "copy.cif").read_bytes() == STRUCTURE
    with pytest.raises(ValueError, match="record_sha256"):
        store.commit(OTHER, {}, {"record_sha256": "mine"})


def test_a_seal_hashed_in_pieces_is_the_hash_of_the_whole_canonical_json(monkeypatch):
    # Long texts are hashed a chunk at a time (a million-row validated sheet is one 240 MB
    # text): chunks of 7 characters here, across escapes, accents and a non-BMP character.
    monkeypatch.setattr(store_module, "CANONICAL_TEXT_CHUNK", 7)
    content = {
        "table": 'line\t"one"\né 😀 \\ \x00' * 5,
        "key": "a" * 20,
        "nested": {"z": [1, 2.5, None, True, {"b": "é" * 9, "a": {}}], "a": "é" * 20},
        "numbers": {"1": 1e300, "0": -0.0},
        "mixed keys": {1: "one", 2: "two"},
    }
    whole = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    assert store_module.canonical_sha256(content) == sha256_bytes(whole)
    sealed = json.loads(store_module.seal_object(SHEET_OBJECT, "k", {"table": content["table"]}))
    assert store_module.open_seal("o.json", json.dumps(sealed).encode())[2] == []


def test_a_part_of_molecules_is_sealed_compact_and_opens_as_any_object():
    # Written whole at each change, read by the program only: no indentation (json's C
    # encoder), the same seal.
    content = {"molecules": {"CCO": ["CCO", "CCO", 3, [], []]}}
    raw = seal_object(MOLECULES_OBJECT, "k/00", content)
    assert b"\n" not in raw
    opened, was_sealed, problems = store_module.open_seal("00.json", raw)
    assert (opened["molecules"], was_sealed, problems) == (content["molecules"], True, [])
    assert b"\n" in seal_object(SHEET_OBJECT, "k", {"table": "t"})


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_damaged_entry_is_never_served(store, tmp_path, corruption):
    name, damage, report = CORRUPTIONS[corruption]
    commit(store, tmp_path)
    write_raw(store, KEY, name, damage(store.read_entry_file(KEY, name)))
    if corruption != "missing record":
        # Still listed as stored: the damage is found when the entry is read.
        assert store.has(KEY) and store.stored([KEY]) == {KEY}
    with pytest.raises(CorruptEntry, match=KEY) as raised:
        store.read_record(KEY)
    assert report in str(raised.value)
    assert not store.inspect(KEY).sound
    if name == "structure.cif" or name == RECORD_FILE:
        with pytest.raises(CorruptEntry):
            store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
        assert not (tmp_path / "copy.cif").exists()  # no unchecked copy left behind
    # A new commit of the target replaces the bad entry.
    commit(store, tmp_path)
    assert store.read_record(KEY)["iptm"] == 0.25


def test_fetch_checks_the_file_it_copies(store, tmp_path):
    commit(store, tmp_path)
    write_raw(store, KEY, "structure.cif", altered_byte(STRUCTURE))
    with pytest.raises(CorruptEntry, match="structure.cif: altered"):
        store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert not (tmp_path / "copy.cif").exists()


def test_quarantine_moves_the_entry_aside_with_its_reason(store, tmp_path):
    commit(store, tmp_path)
    write_raw(store, KEY, "structure.cif", None)
    problems = store.inspect(KEY).problems
    moved_to = store.quarantine(KEY, problems)
    assert "/quarantine/" in moved_to and moved_to.endswith(KEY)
    assert not store.has(KEY) and store.stored([KEY]) == frozenset()
    names = store.blob_names("quarantine/")
    assert {name.rsplit("/", 1)[1] for name in names} == {
        RECORD_FILE,
        "confidence.json",
        QUARANTINE_REASON_FILE,
    }
    reason = next(name for name in names if name.endswith(QUARANTINE_REASON_FILE))
    assert "structure.cif: missing" in store.read_blob(reason).decode()


def legacy_record(key: str) -> dict:
    """A target's record as entries were written before the seal."""
    return {"key": key, "status": "completed", "iptm": 0.25, "weights": WEIGHTS}


def unsealed(data: bytes) -> bytes:
    """A sealed record with its seal fields removed."""
    content = json.loads(data)
    del content["files"], content["record_sha256"]
    return json.dumps(content).encode()


def test_entries_written_before_the_seal_are_served_as_legacy(store, tmp_path):
    commit(store, tmp_path)
    write_raw(store, KEY, RECORD_FILE, json.dumps(legacy_record(KEY)).encode())
    inspection = store.inspect(KEY)
    assert inspection.sound and inspection.legacy
    assert store.read_record(KEY) == legacy_record(KEY)
    store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert (tmp_path / "copy.cif").read_bytes() == STRUCTURE


# An unsealed record that is not its entry's: never served as legacy (issue 19, item 2).
NOT_LEGACY = {
    "another target's record, its seal removed": (
        lambda store: unsealed(store.read_entry_file(OTHER, RECORD_FILE)),
        f"record.json: unsealed, and is the record of another key, {OTHER}",
    ),
    "an empty object": (lambda store: b"{}", "record.json: unsealed, and names no key"),
    "not a target record": (
        lambda store: json.dumps({"key": KEY, "status": "done", "weights": WEIGHTS}).encode(),
        "record.json: unsealed, and is not a target record (status: Input should be",
    ),
}


@pytest.mark.parametrize("case", sorted(NOT_LEGACY))
def test_an_unsealed_record_of_another_key_or_none_is_damaged(store, tmp_path, capsys, case):
    replacement, report = NOT_LEGACY[case]
    commit(store, tmp_path, KEY)
    commit(store, tmp_path, OTHER)
    write_raw(store, KEY, RECORD_FILE, replacement(store))
    inspection = store.inspect(KEY)
    assert not inspection.sound and not inspection.legacy
    assert report in str(inspection.problems[0])
    with pytest.raises(CorruptEntry, match=KEY):
        store.read_record(KEY)
    with pytest.raises(CorruptEntry):
        store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert main(["store", "verify", store.location]) == 1
    printed = capsys.readouterr().out
    assert f"BAD {KEY}: {report}" in printed
    assert "2 entries in" in printed and "1 sound, 1 bad" in printed and "legacy" not in printed


def test_store_verify_lists_and_quarantines_bad_entries(store, tmp_path, capsys):
    location = store.location
    for key in (KEY, OTHER, "ad" * 32):
        commit(store, tmp_path, key)
    write_raw(store, OTHER, "structure.cif", b"data_")
    write_raw(store, "ad" * 32, RECORD_FILE, json.dumps(legacy_record("ad" * 32)).encode())
    assert main(["store", "verify", location]) == 1
    printed = capsys.readouterr().out
    assert f"BAD {OTHER}: structure.cif: truncated: 5 bytes" in printed
    assert KEY not in printed
    assert f"3 entries in {location}: 1 sound, 1 bad, 1 legacy" in printed
    assert store.has(OTHER)  # only listed

    assert main(["store", "verify", location, "--quarantine"]) == 0
    printed = capsys.readouterr().out
    assert f"BAD {OTHER}" in printed and "moved to" in printed
    assert not store.has(OTHER) and store.has(KEY)
    assert main(["store", "verify", location]) == 0
    assert "2 entries" in capsys.readouterr().out


def test_a_shard_quarantines_a_corrupt_entry_and_predicts_it_again(tmp_path):
    plan = make_plan(tmp_path, [(f"m{i}", "CCO" + "C" * i, "s") for i in range(3)])
    store = LocalStore(plan.config.store)
    (protein, shard), targets = next(iter(plan.shards.items()))
    structure = tmp_path / "model.cif"
    structure.write_bytes(STRUCTURE)
    for target in targets.targets:
        record = fake_record(plan, target, False, random.Random(0))
        store.commit(target.key, {"structure.cif": structure}, record.to_json())
    bad = targets.targets[1].key
    write_raw(store, bad, "structure.cif", altered_byte(STRUCTURE))

    # Assembling a shard found wholly stored (no Boltz on the main process): the bad entry
    # is reported, moved aside, and the job fails so that the rerun predicts it.
    job = shard_job(plan.config, plan, store, tmp_path, protein, shard, may_predict=False)
    with pytest.raises(ShardError, match="1 of the shard's targets"):
        job.run()
    assert not store.has(bad) and store.blob_names("quarantine/")
    assert store.stored(t.key for t in targets.targets) == {
        t.key for t in targets.targets if t.key != bad
    }
    # A predicting job does the same and predicts the target (Boltz's part is tested
    # elsewhere): a record cut short, emptied or replaced by another target's without its seal
    # is reported, moved aside and not reused.
    other = targets.targets[0].key
    for damage in (b"{", b"{}", unsealed(store.read_entry_file(other, RECORD_FILE))):
        store.commit(bad, {"structure.cif": structure}, {"key": bad, "status": "completed"})
        write_raw(store, bad, RECORD_FILE, damage)
        job = shard_job(plan.config, plan, store, tmp_path, protein, shard)
        assert job._stored_record(bad) is None
        assert not store.has(bad)


def test_the_live_dashboard_shows_a_corrupt_entry_as_pending(tmp_path):
    plan = make_plan(tmp_path, [(f"m{i}", "CCO" + "C" * i, "s") for i in range(4)], shard_size=4)
    write_synthetic_screen(plan, tmp_path / "results", shards_done=0, committed_in_open_shard=2)
    store = LocalStore(plan.config.store)
    damaged = next(iter(plan.shards.values())).targets[0].key
    write_raw(store, damaged, "structure.cif", b"")
    data = running_screen_data(plan, store, tmp_path / "results")
    assert data.counts() == {"completed": 1, "failed": 0, "pending": 3}


def test_store_verify_refuses_a_store_that_is_not_there(gcs_client, tmp_path, capsys):
    assert main(["store", "verify", str(tmp_path / "typo")]) == 1
    assert f"no result store at {tmp_path / 'typo'}" in capsys.readouterr().err
    assert main(["store", "verify", "gs://no-such-bucket/store"]) == 1
    assert "listing gs://no-such-bucket/store/targets/* failed" in capsys.readouterr().err


# --- Every other object of the store (issue 19, item 2) -------------------------------------

# One object of each kind, as its owner writes it (the content is the kind's own).
OBJECTS = {
    FAILURE_OBJECT: lambda key: {"status": "failed", "error": "x", "weights": WEIGHTS},
    SHEET_OBJECT: lambda key: {"tsv": "line\tsmiles\n2\tCCO\n"},
    MOLECULES_OBJECT: lambda key: {"molecules": {"CCO": ["CCO", "CCO", 3, [], []]}},
    SERVER_MSA_OBJECT: lambda key: {"query_id": key, "chains": []},
    TRIAGE_OBJECT: lambda key: {"version": "pose-v1", "posebusters_pass": True},
    CHEMISTRY_OBJECT: lambda key: {
        "molecules": {"CCO": [[], 46.069, -0.001, 20.23, 1, 1, 0, 0.407, 0]}
    },
}
OBJECT_KEYS = {
    FAILURE_OBJECT: (KEY, OTHER),
    SHEET_OBJECT: ("s" + KEY, "s" + OTHER),
    MOLECULES_OBJECT: ("v1-aff1/ab", "v1-aff1/ac"),
    SERVER_MSA_OBJECT: (KEY, OTHER),
    TRIAGE_OBJECT: ("pose-v1/" + KEY, "pose-v1/" + OTHER),
    CHEMISTRY_OBJECT: ("c1-rdkit2024/ab", "c1-rdkit2024/ac"),
}
# How an object is damaged, and what its report says.
OBJECT_DAMAGE = {
    "truncated": (lambda store, kind: raw_object(store, kind, 0)[:40], "not valid JSON"),
    "edited": (
        lambda store, kind: edited_record(raw_object(store, kind, 0)),
        "edited: its content does not match its seal",
    ),
    "another key's": (lambda store, kind: raw_object(store, kind, 1), "of another key"),
    "another kind's": (
        lambda store, kind: seal_object(
            FAILURE_OBJECT if kind != FAILURE_OBJECT else SHEET_OBJECT,
            OBJECT_KEYS[kind][0],
            OBJECTS[FAILURE_OBJECT if kind != FAILURE_OBJECT else SHEET_OBJECT](None),
        ),
        "not a",
    ),
}


def raw_object(store, kind: str, which: int) -> bytes:
    return store.read_blob(object_path(kind, OBJECT_KEYS[kind][which]))


def write_objects(store) -> None:
    for kind, content in OBJECTS.items():
        for key in OBJECT_KEYS[kind]:
            store.write_object(kind, key, content(key))


@pytest.mark.parametrize("damage", sorted(OBJECT_DAMAGE))
@pytest.mark.parametrize("kind", OBJECT_KINDS)
def test_a_damaged_object_is_reported_moved_aside_and_read_as_absent(
    store, caplog, capsys, kind, damage
):
    write_objects(store)
    key = OBJECT_KEYS[kind][0]
    assert store.read_object(kind, key).content == {**OBJECTS[kind](key), "key": key}
    damaged, report = OBJECT_DAMAGE[damage]
    name = object_path(kind, key)
    store.write_blob(name, damaged(store, kind))

    assert main(["store", "verify", store.location]) == 1
    printed = capsys.readouterr().out
    assert f"BAD {kind} {name}: {name}: " in printed and report in printed
    assert ": 1 sound, 1 bad" in printed

    with caplog.at_level("WARNING"):
        assert store.read_object(kind, key).content is None
    assert f"store object {store.location.rstrip('/')}/{name} is damaged" in caplog.text
    assert report in caplog.text
    assert store.read_blob(name) is None
    moved = f"{name.replace('/', '-')}/{name.rsplit('/', 1)[-1]}"
    assert len([n for n in store.blob_names("quarantine/") if n.endswith(moved)]) == 1
    # The other object of the kind is untouched; the rewritten one is served again.
    assert store.read_object(kind, OBJECT_KEYS[kind][1]).content is not None
    store.write_object(kind, key, OBJECTS[kind](key))
    assert store.read_object(kind, key).content is not None
    assert main(["store", "verify", store.location]) == 0


def test_store_verify_counts_every_kind_and_unsealed_objects(store, capsys):
    write_objects(store)
    # Written before objects were sealed: a failure record (served as it is) and a sheet
    # (validated again); an unsealed failure record that is no failure of its key is damaged.
    store.write_blob(
        "failures/" + "ad" * 32 + ".json",
        json.dumps({"key": "ad" * 32, "status": "failed", "weights": WEIGHTS}).encode(),
    )
    store.write_blob("failures/" + "ae" * 32 + ".json", b"{}")
    store.write_blob("sheets/old.json", json.dumps({"tsv": ""}).encode())
    assert main(["store", "verify", store.location, "--quarantine"]) == 0
    printed = capsys.readouterr().out
    assert (
        f"BAD {FAILURE_OBJECT} failures/{'ae' * 32}.json: " in printed and "names no key" in printed
    )
    assert "0 entries in" in printed
    assert (
        "4 failure records: 2 sound, 1 bad, 1 unsealed (written before objects were sealed: "
        "served as they are)"
    ) in printed
    assert (
        "3 validated sheets: 2 sound, 0 bad, 1 unsealed (written before objects were sealed: "
        "computed again when needed)"
    ) in printed
    assert "2 parts of the validated molecules: 2 sound, 0 bad" in printed
    assert "2 server MSAs: 2 sound, 0 bad" in printed
    assert "2 parts of the molecules' chemistry: 2 sound, 0 bad" in printed
    assert "1 of 1 damaged moved to the store's quarantine/" in printed
    assert store.read_object(FAILURE_OBJECT, "ad" * 32).legacy
    assert store.read_object(SHEET_OBJECT, "old").content is None


def test_a_server_msa_is_checked_with_its_chain_files(store, tmp_path):
    chain = b"key,sequence\n101,MKV\n"
    record = {"query_id": KEY, "chains": [{"file": "0.csv", "sha256": sha256_bytes(chain)}]}
    store.write_stored(f"msa/{KEY}/0.csv", chain)
    store.write_object(SERVER_MSA_OBJECT, KEY, record)
    assert store.read_object(SERVER_MSA_OBJECT, KEY, with_files=True).files == {
        f"msa/{KEY}/0.csv": chain
    }
    store.write_blob(f"msa/{KEY}/0.csv", chain.replace(b"MKV", b"MKA"))
    read = store.read_object(SERVER_MSA_OBJECT, KEY, with_files=True)
    assert read.content is None
    assert f"msa/{KEY}/0.csv: altered" in str(read.problems[0])
    # Moved aside whole: the record and its chain file.
    assert store.blob_names(f"msa/{KEY}/") == []
    assert len(store.blob_names("quarantine/")) == 3


def test_nothing_is_read_or_written_through_a_link_out_of_the_store(tmp_path, capsys):
    store = LocalStore(tmp_path / "store")
    commit(store, tmp_path, KEY)
    commit(store, tmp_path, OTHER)
    outside = tmp_path / "outside"
    # An entry's directory replaced by a link to a copy of it outside the store.
    shutil.copytree(store.root / entry_path(KEY), outside / "entry")
    shutil.rmtree(store.root / entry_path(KEY))
    (store.root / entry_path(KEY)).symlink_to(outside / "entry")
    # A failure record that is a link to one outside.
    record_failure(store, TargetRecord(key=OTHER, status="failed", weights=WEIGHTS))
    failure = store.root / object_path(FAILURE_OBJECT, OTHER)
    failure.rename(outside / "failure.json")
    failure.symlink_to(outside / "failure.json")
    before = sorted(path.name for path in outside.rglob("*"))

    assert store.has(KEY) and store.stored([KEY, OTHER]) == {KEY, OTHER}
    problems = store.inspect(KEY).problems
    assert "a symbolic link out of the store" in str(problems[0])
    with pytest.raises(CorruptEntry, match="symbolic link out of the store"):
        store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert main(["store", "verify", store.location]) == 1
    printed = capsys.readouterr().out
    assert f"BAD {KEY}: " in printed and f"BAD {FAILURE_OBJECT} " in printed
    assert main(["store", "verify", store.location, "--quarantine"]) == 0
    # The links were moved into the quarantine, nothing was written where they led.
    assert sorted(path.name for path in outside.rglob("*")) == before
    assert not (store.root / entry_path(KEY)).is_symlink() and not failure.is_symlink()
    moved = [p for p in (store.root / "quarantine").rglob("*") if p.is_symlink()]
    assert len(moved) == 2
    assert recorded_failures(store, [OTHER]) == {}
    assert store.read_record(OTHER)["key"] == OTHER

    # A folder of the store that leads out of it is never written through.
    shutil.rmtree(store.root / "failures")
    (store.root / "failures").symlink_to(outside)
    with pytest.raises(StoreError, match="symbolic link out of the result store"):
        record_failure(store, TargetRecord(key=KEY, status="failed", weights=WEIGHTS))
    assert sorted(path.name for path in outside.rglob("*")) == before


def test_store_verify_refuses_a_directory_that_is_no_store(gcs_client, tmp_path, capsys):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("x")
    assert main(["store", "verify", str(tmp_path / "home")]) == 1
    error = capsys.readouterr().err
    assert f"no result store at {tmp_path / 'home'}: it has none of a store's folders" in error
    empty = GCSStore(f"gs://{BUCKET}/nothing-{tmp_path.name}", client=gcs_client)
    empty.write_blob("notes.txt", b"x")
    assert main(["store", "verify", empty.location]) == 1
    assert f"no result store at {empty.location}" in capsys.readouterr().err


def test_store_verify_finishes_when_an_entry_cannot_be_moved(tmp_path, capsys, monkeypatch):
    store = LocalStore(tmp_path / "store")
    for key in (KEY, OTHER):
        commit(store, tmp_path, key)
        write_raw(store, key, "structure.cif", b"data_")
    stuck = store.root / entry_path(KEY)
    rename = os.rename

    def undeletable(source, destination):
        # (As root no permission stops a rename: the refusal is injected.)
        if Path(source) == stuck:
            raise PermissionError(13, "Permission denied", str(source))
        rename(source, destination)

    monkeypatch.setattr(os, "rename", undeletable)
    assert main(["store", "verify", store.location, "--quarantine"]) == 1
    printed = capsys.readouterr().out
    assert f"NOT MOVED: [Errno 13] Permission denied: '{stuck}'" in printed
    assert "2 entries in" in printed and "0 sound, 2 bad" in printed
    assert "1 of 2 damaged moved to the store's quarantine/" in printed
    assert "1 could not be moved" in printed
    assert store.has(KEY) and not store.has(OTHER)


def test_a_store_that_cannot_be_used_is_one_message(monkeypatch, tmp_path, capsys):
    # Under /proc nothing can be created, whoever runs it: planning stops before anything is
    # validated or predicted, with one message (the planning process reports a StoreError as
    # it reports a config error).
    config = write_config_file(tmp_path, write_screen(tmp_path, store="/proc/omtx-store"))
    assert main(["estimate", "--configfile", str(config)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("the result store /proc/omtx-store cannot be written (")
    assert "give the config key 'store' a directory this user can create" in error
    # A bucket without Google credentials.
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    assert main(["store", "verify", "gs://some-bucket/store"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("the result store gs://some-bucket/store cannot be reached: no Google")
    assert "gcloud auth application-default login" in error and "Traceback" not in error
