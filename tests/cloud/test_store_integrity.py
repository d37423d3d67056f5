"""The store never serves a bad entry (issue 14, item 2): each entry is sealed at commit (every
file's sha256 and size, the record's own sha256); an entry whose file is missing, truncated or
altered, or whose record was edited or cut short, is detected when read, named with the file
and the reason, and moved aside so that its target is computed again. Local and on the GCS
emulator; `omtx-hub store verify` finds and quarantines such entries."""

from __future__ import annotations

import json
import random

import pytest

from omtx_hub.cli import main
from omtx_hub.predict import ShardError
from omtx_hub.store import CorruptEntry, GCSStore, LocalStore
from omtx_hub.store_layout import QUARANTINE_REASON_FILE, RECORD_FILE, entry_path
from omtx_hub.testing.synthetic import fake_record, make_plan
from omtx_hub.testing.synthetic import write_screen as write_synthetic_screen
from tests.gcs_emulator import emulated_gcs
from tests.screens import running_screen_data, shard_job

KEY = "ab" * 32
OTHER = "ac" * 32
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


def test_entries_written_before_the_seal_are_served_as_legacy(store, tmp_path):
    commit(store, tmp_path)
    write_raw(store, KEY, RECORD_FILE, json.dumps({"key": KEY, "status": "completed"}).encode())
    inspection = store.inspect(KEY)
    assert inspection.sound and inspection.legacy
    assert store.read_record(KEY) == {"key": KEY, "status": "completed"}
    store.fetch(KEY, "structure.cif", tmp_path / "copy.cif")
    assert (tmp_path / "copy.cif").read_bytes() == STRUCTURE


def test_store_verify_lists_and_quarantines_bad_entries(store, tmp_path, capsys):
    location = store.location
    for key in (KEY, OTHER, "ad" * 32):
        commit(store, tmp_path, key)
    write_raw(store, OTHER, "structure.cif", b"data_")
    write_raw(store, "ad" * 32, RECORD_FILE, json.dumps({"key": "ad" * 32}).encode())
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
    # elsewhere): a record cut short is reported, moved aside and not reused.
    store.commit(bad, {"structure.cif": structure}, {"key": bad, "status": "completed"})
    write_raw(store, bad, RECORD_FILE, b"{")
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
