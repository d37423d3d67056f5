"""A target's result depends only on its key, on the real Boltz path (CPU, fp32, test weights).

The reference predicts the screen in shards of two: the first two ligands share a shard and
ibuprofen, the last, is alone. Then all three share one shard (other positions, another shard
size), and one such shard is killed with SIGKILL after its first commit and resumed. Every
target's scores and structure file must be identical to the reference's, bit for bit.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.records import SCORE_FIELDS
from omtx_hub.store import LocalStore
from tests.screens import (
    FAST_MODEL,
    committed_records,
    runtime,
    shard_job,
    snakemake_env,
    start_screen_in_background,
    wait_for_first_commit,
    write_config_file,
    write_screen,
)

pytestmark = pytest.mark.boltz

# Ibuprofen is the molecule the dependence on shard-mates was first measured on.
LIGANDS = ["CCN", "c1ccccc1O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"]


def screen(directory: Path, shard_size: int, cache: Path, **runtime_settings) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    rows = [(f"m{i}", smiles) for i, smiles in enumerate(LIGANDS)]
    settings = {**runtime(cache), **runtime_settings}
    return write_screen(
        directory, rows=rows, shard_size=shard_size, model=FAST_MODEL, runtime=settings
    )


def results(store: LocalStore, keys, directory: Path) -> dict[str, dict]:
    """Per key: the scores of its record and the bytes of its structure, from the store."""
    found = {}
    for key in keys:
        record = store.read_record(key)
        structure = directory / f"{key}.cif"
        store.fetch(key, "structure.cif", structure)
        found[key] = {
            **{field: record.get(field) for field in SCORE_FIELDS},
            "structure": structure.read_bytes(),
        }
    return found


def predict_in_shards(
    directory: Path, shard_size: int, cache: Path, **runtime_settings
) -> dict[str, dict]:
    """Predict the screen's shards one after the other (one Boltz process each)."""
    config = load_config(screen(directory, shard_size, cache, **runtime_settings))
    store = LocalStore(config.store)
    plan = build_plan(config, store)
    for protein, name in plan.shards:
        shard_job(config, plan, store, directory, protein, name).run()
    keys = [t.key for shard in plan.shards.values() for t in shard.targets]
    return results(store, keys, directory)


def assert_identical(found: dict[str, dict], reference: dict[str, dict]) -> None:
    assert found.keys() == reference.keys()
    differences = {
        (key[:8], field): (reference[key][field], found[key][field])
        for key in reference
        for field in reference[key]
        if field != "structure" and found[key][field] != reference[key][field]
    }
    assert not differences, f"(key, field): (reference, here) {differences}"
    assert all(found[key]["structure"] == reference[key]["structure"] for key in reference)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, boltz_test_cache) -> dict[str, dict]:
    """Shards of two, one Boltz process each: [CCN, phenol], [ibuprofen] (alone)."""
    return predict_in_shards(tmp_path_factory.mktemp("reference"), 2, boltz_test_cache)


def test_one_shard_with_all_targets(tmp_path, boltz_test_cache, reference):
    # runtime.deterministic is outside the key (same keys as the reference) because on a CPU
    # it changes nothing; this run shows both.
    found = predict_in_shards(tmp_path, len(LIGANDS), boltz_test_cache, deterministic=True)
    assert_identical(found, reference)


def test_shard_resumed_after_kill(tmp_path, boltz_test_cache, reference):
    # With data-loader worker processes, which featurise in processes of their own.
    raw = screen(tmp_path, len(LIGANDS), boltz_test_cache, num_workers=2)
    config = write_config_file(tmp_path, raw)
    store = LocalStore(raw["store"])
    run = start_screen_in_background(tmp_path, config, start_new_session=True)
    wait_for_first_commit(run, store.root)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    done_before = len(committed_records(store.root))
    assert done_before < len(LIGANDS), "kill came too late: nothing left to resume"

    env = snakemake_env()
    subprocess.run([*run.args, "--unlock"], env=env, check=True, capture_output=True)
    resumed = subprocess.run(
        [*run.args, "--rerun-incomplete"], env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-5000:]
    assert_identical(results(store, reference.keys(), tmp_path), reference)
