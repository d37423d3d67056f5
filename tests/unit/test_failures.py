"""Failed targets: their kind from Boltz's words, their records in the store and the shards
a run predicts again (the launcher's part: tests/unit/test_boltz_launcher.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from omtx_hub.failures import (
    failure_kind,
    record_failure,
    recorded_failures,
    retry_marks,
    screen_failures,
    shards_to_retry,
    worth_retrying,
)
from omtx_hub.records import TargetRecord, Weights
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import FAILURE_OBJECT, failure_path

WEIGHTS = Weights(identity="test", released=False, note="test weights")


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        # Boltz 2.2.1's own words (boltz/main.py, data/module/inferencev2.py, models/boltz2.py).
        ("Failed to process /w/tab.yaml. Skipping. Error: no conformer.", "permanent"),
        ("Featurizer failed on tab with error index out of range. Skipping.", "permanent"),
        ("Tokenizer failed on tab with error KeyError. Skipping.", "permanent"),
        ("Boltz skipped tab in the structure stage: it ran out of memory", "retryable"),
        ("Molecule loading failed for tab with error EOFError. Skipping.", "retryable"),
        ("Cropper failed on tab with error too many atoms. Skipping.", "permanent"),
        ("Boltz wrote no complete prediction for this target", "retryable"),
        # The launcher's line for an exception it caught (omtx_hub.boltz_launcher.failure_line).
        ("Boltz failed on tab in the structure stage (writer): ValueError: The following "
         "Assemblies reference asym IDs that don't have coordinates in any Model", "permanent"),
        ("Boltz failed on tab in the affinity stage (model): AssertionError: ", "permanent"),
        ("Boltz failed on tab in the structure stage (model): RuntimeError: CUDA error: an "
         "illegal memory access was encountered", "retryable"),
        ("Boltz failed on tab in the structure stage (transfer): OutOfMemoryError: CUDA out "
         "of memory.", "retryable"),
        ("Boltz failed on tab in the structure stage (model): ValueError: cuDNN error",
         "retryable"),
        ("Boltz failed on tab in the structure stage (writer): OSError: [Errno 28] No space "
         "left on device", "retryable"),
        ("Boltz failed on tab in the affinity stage (input): FileNotFoundError: x.npz",
         "retryable"),
    ],
)  # fmt: skip
def test_failure_kind_follows_boltz_reason(reason, kind):
    assert failure_kind(reason) == kind


def failure(key: str, kind: str) -> TargetRecord:
    return TargetRecord(
        key=key, status="failed", error=f"{kind} reason", failure=kind, weights=WEIGHTS
    )


def fake_plan(shards: dict[tuple[str, str], list[str]]) -> SimpleNamespace:
    """A plan's shards: (protein, shard) -> the keys of its targets (what omtx_hub.failures
    reads of a Plan: its shards' names and keys, no spec)."""
    return SimpleNamespace(
        shards=dict.fromkeys(shards),
        shard_keys=lambda protein, name: shards[(protein, name)],
        keys=lambda: [key for keys in shards.values() for key in keys],
    )


def test_failures_are_kept_by_key_and_read_back(tmp_path):
    store = LocalStore(tmp_path)
    record_failure(store, failure("a" * 64, "permanent"))
    record_failure(store, failure("b" * 64, "retryable"))
    assert (tmp_path / failure_path("a" * 64)).is_file()
    found = recorded_failures(store, ["a" * 64, "c" * 64])
    assert found == {"a" * 64: failure("a" * 64, "permanent")}
    # Not an entry of the store: lookups of results do not see it.
    assert not store.has("a" * 64)


def test_a_run_predicts_again_the_shards_with_retryable_failures_not_predicted_since(tmp_path):
    store = LocalStore(tmp_path)
    keys = {name: name * 64 for name in "abcdef"}
    for name in "abc":
        record_failure(store, failure(keys[name], "retryable"))
    record_failure(store, failure(keys["d"], "permanent"))
    # b failed once, then a later run predicted it.
    (tmp_path / "entry.txt").write_text("x")
    store.commit(keys["b"], {"entry.txt": tmp_path / "entry.txt"}, {"key": keys["b"]})
    plan = fake_plan(
        {
            ("P1", "00000"): [keys["a"], keys["e"]],
            ("P1", "00001"): [keys["b"], keys["d"]],
            ("P2", "00000"): [keys["f"]],
        }
    )
    # c belongs to another screen.
    failures = screen_failures(plan, store)
    assert failures.keys() == {keys["a"], keys["b"], keys["d"]}
    retryable = worth_retrying(failures, retry_permanent=False)
    assert retryable.keys() == {keys["a"], keys["b"]}
    assert shards_to_retry(plan, store, retryable) == {
        ("P1", "00000"): [failure(keys["a"], "retryable")]
    }
    # With retry_failed the permanent d is retried too.
    every = worth_retrying(failures, retry_permanent=True)
    assert shards_to_retry(plan, store, every) == {
        ("P1", "00000"): [failure(keys["a"], "retryable")],
        ("P1", "00001"): [failure(keys["d"], "permanent")],
    }


def test_the_retry_marks_change_with_each_failure_worth_retrying(tmp_path):
    store = LocalStore(tmp_path)
    shard = ["a" * 64, "b" * 64]
    assert retry_marks(shard, {}) == []
    first = failure("a" * 64, "retryable").model_copy(update={"computed_at": "2026-12-02T07:00:00"})
    record_failure(store, first)
    marks = retry_marks(shard, recorded_failures(store, ["a" * 64]))
    assert marks == [f"{'a' * 64} retryable 2026-12-02T07:00:00"]
    # Failing again (a later run) is a new failure: the marks change, the shard runs again;
    # succeeding leaves them as they were, and the shard is done.
    again = first.model_copy(update={"computed_at": "2026-12-02T08:00:00"})
    record_failure(store, again)
    assert retry_marks(shard, recorded_failures(store, ["a" * 64])) != marks


def test_a_damaged_failure_record_is_moved_aside_and_its_target_predicted_again(tmp_path, caplog):
    # Issue 19, item 2: a failure record is sealed; one that is damaged (cut short, emptied,
    # another key's) is reported with its path, moved aside and read as no failure, so that
    # its target is given to Boltz again, where it gave a pydantic traceback at planning.
    store = LocalStore(tmp_path)
    keys = {name: name * 64 for name in "abcd"}
    for key in keys.values():
        record_failure(store, failure(key, "permanent"))
    path = {name: tmp_path / failure_path(key) for name, key in keys.items()}
    assert json.loads(path["a"].read_text())["record_sha256"]  # sealed
    path["a"].write_text(path["a"].read_text()[:30])
    path["b"].write_text("{}")
    path["c"].write_bytes(path["d"].read_bytes())
    with caplog.at_level("WARNING"):
        found = recorded_failures(store, keys.values())
    assert found == {keys["d"]: failure(keys["d"], "permanent")}
    for name in "abc":
        assert f"store object {tmp_path}/{failure_path(keys[name])} is damaged" in caplog.text
        assert not path[name].exists()
    assert "not valid JSON" in caplog.text and "names no key" in caplog.text
    assert f"is the failure record of another key, {keys['d']}" in caplog.text
    assert len(list((tmp_path / "quarantine").iterdir())) == 3


def test_failure_records_written_before_they_were_sealed_are_still_read(tmp_path):
    store = LocalStore(tmp_path)
    record = failure("a" * 64, "permanent")
    (tmp_path / "failures").mkdir()
    (tmp_path / failure_path("a" * 64)).write_text(record.model_dump_json(exclude_unset=True))
    assert recorded_failures(store, ["a" * 64]) == {"a" * 64: record}


def test_a_sealed_failure_record_that_is_no_target_record_is_moved_aside_not_raised(
    tmp_path, caplog
):
    """Its seal holds (written by another version, or sealed by hand), its content is no
    TargetRecord: it is damaged like a broken seal, never a pydantic traceback at planning."""
    store = LocalStore(tmp_path)
    store.write_object(FAILURE_OBJECT, "a" * 64, {"key": "a" * 64, "status": "exploded"})
    record_failure(store, failure("b" * 64, "permanent"))
    with caplog.at_level("WARNING"):
        found = recorded_failures(store, ["a" * 64, "b" * 64])
    assert found == {"b" * 64: failure("b" * 64, "permanent")}
    assert f"{failure_path('a' * 64)} is damaged" in caplog.text
    assert f"not a {FAILURE_OBJECT}: ValidationError" in caplog.text
    assert not (tmp_path / failure_path("a" * 64)).exists()
    assert len(list((tmp_path / "quarantine").iterdir())) == 1
