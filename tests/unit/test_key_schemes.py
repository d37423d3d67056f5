"""Stores written under an older key scheme: their entries are never reused for this scheme,
and a run says how many of its targets that concerns and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omtx_hub.config import load_config
from omtx_hub.key_schemes import (
    older_entries_possible,
    older_scheme_report,
    scheme_1_keys,
)
from omtx_hub.keys import KEY_SCHEME
from omtx_hub.plan import build_plan
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import scheme_marker_path
from tests.screens import write_screen

PROTEIN = {"name": "P1", "sequence": "MKTAYIAKQR"}
# tests/unit/test_keys.py at be2998e, the last commit of scheme 1: the key of this target.
SCHEME_1_GOLDEN_KEYS = {
    "empty": "d8fcb784f0280edd484ba521273983d3f301d50277bbd2079d8196b9ab31351a",
    "server": "32accab1d6f7a37a196059274e697067ffcde94dce729ec72a35b850d9a9dc57",
}


def plan_of(raw: dict):
    config = load_config(raw)
    return build_plan(config, LocalStore(config.store))


@pytest.mark.parametrize("msa", sorted(SCHEME_1_GOLDEN_KEYS))
def test_scheme_1_keys_are_the_ones_scheme_1_wrote(tmp_path, msa):
    (tmp_path / "cache").mkdir()
    raw = write_screen(
        tmp_path,
        rows=[("eth", "CCO")],
        proteins=[{**PROTEIN, "msa": msa}],
        runtime={"cache": str(tmp_path / "cache")},
    )
    assert list(scheme_1_keys(plan_of(raw)).values()) == [SCHEME_1_GOLDEN_KEYS[msa]]


def commit(store: LocalStore, key: str) -> None:
    store.commit(key, {}, {"key": key, "status": "completed", "weights": {}})


def test_a_new_store_is_marked_and_never_searched_for_older_entries(tmp_path):
    store = LocalStore(tmp_path / "store")
    assert older_entries_possible(store) is False
    marker = json.loads(store.read_blob(scheme_marker_path(KEY_SCHEME)))
    assert marker["scheme"] == KEY_SCHEME and marker["older_entries_possible"] is False
    commit(store, "ab" * 32)  # entries written under this scheme from then on
    assert older_entries_possible(store) is False


def test_targets_stored_only_under_scheme_1_are_counted_and_explained(tmp_path):
    raw = write_screen(tmp_path, proteins=[{**PROTEIN, "msa": "empty"}])
    plan = plan_of(raw)
    store = LocalStore(raw["store"])
    old_keys = list(scheme_1_keys(plan).items())
    for _, old in old_keys[:3]:
        commit(store, old)  # a store an earlier omtx-hub wrote
    report = older_scheme_report(plan, store)
    assert report.startswith(f"3 of this screen's {len(old_keys)} targets are in the result store")
    assert "only under key scheme 1" in report and "MSA's content" in report
    # Never mixed: the new keys are not found, the targets are predicted again.
    assert plan.stored_keys(store) == frozenset()
    commit(store, old_keys[0][0])  # one of them predicted again, under scheme 2
    assert older_scheme_report(plan, store).startswith("2 of this screen's")


def test_no_report_when_no_target_of_the_screen_is_stored_under_scheme_1(tmp_path):
    raw = write_screen(tmp_path, proteins=[{**PROTEIN, "msa": "empty"}])
    store = LocalStore(Path(raw["store"]))
    commit(store, "cd" * 32)  # an entry of another screen
    assert older_entries_possible(store) is True
    assert older_scheme_report(plan_of(raw), store) is None
