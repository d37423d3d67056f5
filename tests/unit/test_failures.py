"""Failed targets: their kind from Boltz's words, their records in the store and the shards
a run predicts again (the launcher's part: tests/unit/test_boltz_launcher.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from omtx_hub.failures import (
    failure_kind,
    failure_name,
    permanent_failures,
    record_failure,
    recorded_failures,
    shards_to_retry,
)
from omtx_hub.records import TargetRecord, Weights
from omtx_hub.store import LocalStore

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
        ("Boltz wrote no complete prediction for this target", "retryable"),
    ],
)  # fmt: skip
def test_failure_kind_follows_boltz_reason(reason, kind):
    assert failure_kind(reason) == kind


def failure(key: str, kind: str) -> TargetRecord:
    return TargetRecord(
        key=key, status="failed", error=f"{kind} reason", failure=kind, weights=WEIGHTS
    )


def fake_plan(shards: dict[tuple[str, str], list[str]]) -> SimpleNamespace:
    """A plan's shards: (protein, shard) -> the keys of its targets."""
    return SimpleNamespace(
        shards={
            name: SimpleNamespace(targets=tuple({"key": key} for key in keys))
            for name, keys in shards.items()
        }
    )


def test_failures_are_kept_by_key_and_read_back(tmp_path):
    store = LocalStore(tmp_path)
    record_failure(store, failure("a" * 64, "permanent"))
    record_failure(store, failure("b" * 64, "retryable"))
    assert (tmp_path / failure_name("a" * 64)).is_file()
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
    assert shards_to_retry(plan, store, retry_permanent=False) == {
        ("P1", "00000"): [failure(keys["a"], "retryable")]
    }
    # c belongs to another screen; with retry_failed the permanent d is retried too.
    assert shards_to_retry(plan, store, retry_permanent=True) == {
        ("P1", "00000"): [failure(keys["a"], "retryable")],
        ("P1", "00001"): [failure(keys["d"], "permanent")],
    }
    assert permanent_failures(plan, store) == {keys["d"]: failure(keys["d"], "permanent")}
    assert (
        shards_to_retry(fake_plan({("P2", "00000"): [keys["f"]]}), store, retry_permanent=True)
        == {}
    )
