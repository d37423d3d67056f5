"""Targets Boltz could not predict: why, whether trying again can help, and the store's record
of those that cannot, so that no rerun of any screen predicts them again.

Boltz 2.2.1 skips a target it cannot process and goes on with the others (it exits 0), saying
why on its output:

- preprocessing raised on the input (`Failed to process <input>. Skipping. Error: ...`,
  `process_input` in `boltz/main.py`: parsing, RDKit's conformer embedding), or the
  featuriser or tokeniser raised on it (`Featurizer failed on <id> ...`, `Tokenizer failed on
  <id> ...`, `PredictionDataset.__getitem__` in `boltz/data/module/inferencev2.py`). These are
  functions of the input and its key alone (the featuriser draws from a fixed
  `np.random.default_rng(42)`): **permanent**, the same input fails the same way again.
- the model ran out of GPU memory (`| WARNING: ran out of memory, skipping batch`,
  `Boltz2.predict_step` in `boltz/model/models/boltz2.py`, which names no target: the launcher
  names it, `omtx_hub.boltz_launcher.SkippedTargetReport`). Memory depends on the GPU and on
  what else holds memory on it: **retryable**.
- anything else (no reason given, an input that could not be loaded): **retryable**.

Every failure is recorded in the store under `failures/<key>.json` (a `TargetRecord` with
status `failed` and its `failure` kind), for every later run of any screen with the target:

- a shard job reads a permanent failure instead of giving the target to Boltz again;
- the planning process runs again each shard with a retryable failure not predicted since,
  although its manifest exists (`shards_to_retry`); the shard predicts only what the store
  lacks.

`runtime.retry_failed: true` treats permanent failures as retryable (docs/reliability.md,
"A ligand Boltz cannot process").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from omtx_hub.records import TargetRecord
from omtx_hub.store import LOOKUP_THREADS, ResultStore

if TYPE_CHECKING:
    from omtx_hub.plan import Plan

FAILURES_DIR = "failures"
# How Boltz words what it cannot do with one input, where the failure follows from the input.
PERMANENT_REASONS = re.compile(r"Failed to process |Featurizer failed on |Tokenizer failed on ")
OUT_OF_MEMORY = "ran out of memory"


def failure_kind(reason: str) -> str:
    """'permanent' when Boltz's `reason` says its processing of the input raised, otherwise
    'retryable' (out of memory, no reason)."""
    if OUT_OF_MEMORY not in reason and PERMANENT_REASONS.search(reason):
        return "permanent"
    return "retryable"


def failure_name(key: str) -> str:
    """The store object of a target's permanent failure."""
    return f"{FAILURES_DIR}/{key}.json"


def record_failure(store: ResultStore, record: TargetRecord) -> None:
    """Keep a failure in the store (atomically), for every later run."""
    store.write_blob(failure_name(record.key), record.model_dump_json(exclude_unset=True).encode())


def recorded_failures(store: ResultStore, keys: Iterable[str]) -> dict[str, TargetRecord]:
    """key -> recorded failure, for those of `keys` that have one: one listing of
    the failures (few: a failure is the exception), then a read of each that is wanted."""
    wanted = set(keys)
    prefix = f"{FAILURES_DIR}/"
    names = [
        name
        for name in store.blob_names(prefix)
        if name.endswith(".json") and name[len(prefix) : -len(".json")] in wanted
    ]
    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        contents = list(pool.map(store.read_blob, names))
    return {
        record.key: record
        for record in (TargetRecord.model_validate_json(c) for c in contents if c is not None)
    }


def permanent_failures(plan: Plan, store: ResultStore) -> dict[str, TargetRecord]:
    """key -> recorded permanent failure, for the plan's targets that have one."""
    keys = {target["key"] for shard in plan.shards.values() for target in shard.targets}
    return {
        key: record
        for key, record in recorded_failures(store, keys).items()
        if record.failure == "permanent"
    }


def shards_to_retry(
    plan: Plan, store: ResultStore, *, retry_permanent: bool
) -> dict[tuple[str, str], list[TargetRecord]]:
    """(protein, shard) -> the recorded failures of its targets that a run should predict
    again: the retryable ones (and with `retry_permanent` all) not in the store since."""
    keys = {target["key"] for shard in plan.shards.values() for target in shard.targets}
    failures = {
        key: record
        for key, record in recorded_failures(store, keys).items()
        if retry_permanent or record.failure != "permanent"
    }
    if not failures:
        return {}
    predicted_since = store.stored(failures)
    retry: dict[tuple[str, str], list[TargetRecord]] = {}
    for (protein, name), shard in plan.shards.items():
        for target in shard.targets:
            if target["key"] in failures and target["key"] not in predicted_since:
                retry.setdefault((protein, name), []).append(failures[target["key"]])
    return retry
