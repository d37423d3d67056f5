"""Targets Boltz could not predict: why, whether trying again can help, and the store's record
of those that cannot, so that no rerun of any screen predicts them again.

Boltz 2.2.1, run by `omtx_hub.boltz_launcher` (which isolates each record at every step,
its module docstring), skips a target it cannot process and goes on with the others (it exits
0), saying why on its output. `failure_kind` reads that line:

- preprocessing raised on the input (`Failed to process <input>. Skipping. Error: ...`,
  `process_input` in `boltz/main.py`: parsing, RDKit's conformer embedding), or the
  featuriser, tokeniser or affinity cropper raised on it (`Featurizer failed on <id> ...`,
  `Tokenizer failed on <id> ...`, `Cropper failed on <id> ...`,
  `PredictionDataset.__getitem__` in `boltz/data/module/inferencev2.py`). These are
  functions of the input and its key alone (the featuriser draws from a fixed
  `np.random.default_rng(42)`): **permanent**, the same input fails the same way again.
- an exception the launcher caught on the record (`Boltz failed on <id> in the <stage> stage
  (<step>): <ErrorType>: <message>`, `boltz_launcher.failure_line`): **permanent** when the
  error type is one Python raises for what a function was given (`DETERMINISTIC_ERRORS`:
  `ValueError`, `AssertionError`, ... e.g. the mmCIF writer's `ValueError` on a ligand with
  no atom), unless its message speaks of the device (`TRANSIENT_WORDS`); anything else
  (`RuntimeError`, which is how torch reports CUDA errors, `OSError`: a full disk) is
  **retryable**.
- the model ran out of GPU memory (`| WARNING: ran out of memory, skipping batch`,
  `Boltz2.predict_step` in `boltz/model/models/boltz2.py`, which names no target: the launcher
  names it, `boltz_launcher.out_of_memory_line`), or any message speaks of CUDA. Memory and
  device errors depend on the GPU and on what else runs on it: **retryable**.
- anything else (no reason given, an input that could not be loaded): **retryable**.

Every failure is recorded in the store under `failures/<key>.json` (a `TargetRecord` with
status `failed` and its `failure` kind, sealed as the store seals every object), for every
later run of any screen with the target:

- a shard job reads a permanent failure instead of giving the target to Boltz again;
- a retryable one makes the next run of a screen with the target run its shard again,
  although the shard's manifest exists (`retry_marks`, a param of the predict rule); the
  shard predicts only what the store lacks.

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
from omtx_hub.store_layout import FAILURE_OBJECT, FAILURES_DIR, object_at

if TYPE_CHECKING:
    from omtx_hub.plan import Plan

# How Boltz words what it cannot do with one input, where the failure follows from the input.
PERMANENT_REASONS = re.compile(
    r"Failed to process |Featurizer failed on |Tokenizer failed on |Cropper failed on "
)
# The launcher's line for an exception it caught on one record (boltz_launcher.failure_line).
LAUNCHER_FAILURE = re.compile(r"Boltz failed on \S+ in the \w+ stage \(\w+\): (?P<error>\w+): ")
# Errors Python raises for what a function was given: the same input raises them again.
DETERMINISTIC_ERRORS = frozenset(
    {"ValueError", "AssertionError", "KeyError", "IndexError", "TypeError", "ZeroDivisionError"}
)
# Words of errors that depend on the device, not on the input.
TRANSIENT_WORDS = re.compile(r"out of memory|CUDA|cuDNN|cuBLAS|NCCL", re.IGNORECASE)


def failure_kind(reason: str) -> str:
    """'permanent' when `reason` says that processing the input raised in a way the same input
    raises again, otherwise 'retryable' (out of memory, device errors, no reason)."""
    if TRANSIENT_WORDS.search(reason):
        return "retryable"
    if PERMANENT_REASONS.search(reason):
        return "permanent"
    caught = LAUNCHER_FAILURE.search(reason)
    if caught and caught["error"] in DETERMINISTIC_ERRORS:
        return "permanent"
    return "retryable"


def record_failure(store: ResultStore, record: TargetRecord) -> None:
    """Keep a failure in the store (atomically and sealed), for every later run."""
    store.write_object(FAILURE_OBJECT, record.key, record.to_json())


def recorded_failures(store: ResultStore, keys: Iterable[str]) -> dict[str, TargetRecord]:
    """key -> recorded failure, for those of `keys` that have one: one listing of
    the failures (few: a failure is the exception), then a read of each that is wanted.

    Each is checked against its seal and parsed (`ResultStore.read_parsed`): a damaged
    record, or a sealed one that is no target record, is reported, moved aside and read as no
    failure, so its target is given to Boltz again."""
    wanted = set(keys)
    found = [
        identity[1]
        for name in store.blob_names(f"{FAILURES_DIR}/")
        if (identity := object_at(name)) is not None
        and identity[0] == FAILURE_OBJECT
        and identity[1] in wanted
    ]
    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        records = list(
            pool.map(
                lambda key: store.read_parsed(FAILURE_OBJECT, key, TargetRecord.model_validate),
                found,
            )
        )
    return {key: record for key, record in zip(found, records, strict=True) if record is not None}


def screen_failures(plan: Plan, store: ResultStore) -> dict[str, TargetRecord]:
    """key -> recorded failure, for the plan's targets that have one."""
    return recorded_failures(store, set(plan.keys()))


def worth_retrying(
    failures: dict[str, TargetRecord], *, retry_permanent: bool
) -> dict[str, TargetRecord]:
    """The retryable ones of `failures` (with `retry_permanent`, all)."""
    return {
        key: record
        for key, record in failures.items()
        if retry_permanent or record.failure != "permanent"
    }


def retry_marks(shard_keys: list[str], failures: dict[str, TargetRecord]) -> list[str]:
    """The predict rule's `failures` param: '<key> <kind> <time>' of each failure worth
    retrying among the shard's targets (`shard_keys`: Plan.shard_keys). Snakemake keeps a
    job's params with its outputs; a failure recorded since (during that job, or a later one
    of another screen) changes the param, and Snakemake runs the shard again (reason: params
    changed), which predicts only what the store lacks."""
    return [
        f"{key} {failures[key].failure} {failures[key].computed_at}"
        for key in shard_keys
        if key in failures
    ]


def shards_to_retry(
    plan: Plan, store: ResultStore, failures: dict[str, TargetRecord]
) -> dict[tuple[str, str], list[TargetRecord]]:
    """(protein, shard) -> those of `failures` (worth retrying) among its targets that no
    run has predicted since: the shards a run predicts again."""
    if not failures:
        return {}
    predicted_since = store.stored(failures)
    retry: dict[tuple[str, str], list[TargetRecord]] = {}
    for name in plan.shards:
        for key in plan.shard_keys(*name):
            if key in failures and key not in predicted_since:
                retry.setdefault(name, []).append(failures[key])
    return retry
