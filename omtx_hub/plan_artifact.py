"""The plan as an artifact: written once by the process that plans a run, read by everything
that executes or reports it.

    results/{screen}/plan/plan.json                   the plan's index (`ScreenPlan`)
    results/{screen}/plan/shards/{protein}/{shard}.json   one shard's spec (`ShardSpec`)

The planning process (omtx_hub.plan) is the only one that reads the ligand sheet and derives
keys. A shard job reads its own spec and checks it against the sha256 the index recorded for
it (`read_shard_spec`), so it executes the plan that was made, never one it recomputed with
another molecule cache, weights file or store. Aggregation and progress read the index (and
the specs), never the sheet file.

Files are written only when their content changes (`changed_files`): an unchanged screen
writes nothing, so a spec file's time tells Snakemake which shards to run again (the predict
rule takes its spec as input; its time is its content's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pydantic import ConfigDict

from omtx_hub.fileio import sha256_bytes
from omtx_hub.layout import PLAN, SHARD_SPEC
from omtx_hub.records import Target, Weights, _Contract

# The format of the plan files; a plan of another version is planned anew.
PLAN_VERSION = 1


class PlanMismatch(RuntimeError):
    """A shard's spec is not the one its plan recorded."""


class ShardSpec(_Contract):
    """Everything a shard job predicts from: its targets (keys, molecules, sheet rows), the
    prediction spec their keys were made with, the weights and MSAs those keys name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    screen: str
    protein: str
    shard: str
    # Which of `model.replicates` the shard's targets are (its seed is prediction's).
    replicate: int
    # The screen-wide part of the targets' keys (omtx_hub.keys.prediction_spec): key scheme,
    # Boltz version, model settings with the replicate's seed, precision, weights, seeding.
    prediction: dict
    weights: Weights
    # Each protein chain entry's first id -> what its MSA is, as the keys contain it.
    msa_identities: dict[str, str]
    targets: list[Target]


class PlannedShard(_Contract):
    """A shard in the plan's index."""

    protein: str
    shard: str
    replicate: int
    targets: int
    # The sha256 of its spec file; None while its protein's server MSA is not fetched yet.
    sha256: str | None


class PlannedProtein(_Contract):
    # Each protein chain entry's first id -> its MSA's identity; None until fetched.
    msa_identities: dict[str, str] | None
    # The result store's address of its server MSA (without `msa: server` chains: None).
    server_msa_id: str | None


class ScreenPlan(_Contract):
    """The plan's index (plan.json): what was planned, and each shard spec's sha256."""

    version: int = PLAN_VERSION
    screen: str
    # The validated ligand sheet, in the result store (omtx_hub.store_layout.sheet_path).
    sheet: str
    seeds: list[int | None]
    # The main engine's (omtx_hub.plan.main_engine).
    weights: Weights
    # A screen of two engines: each engine's (a screen of one has only `weights`).
    engine_weights: dict[str, Weights] | None = None
    proteins: dict[str, PlannedProtein]
    shards: list[PlannedShard]

    @property
    def target_count(self) -> int:
        return sum(shard.targets for shard in self.shards)

    def entry(self, protein: str, shard: str) -> PlannedShard | None:
        return next(
            (s for s in self.shards if (s.protein, s.shard) == (protein, shard)),
            None,
        )


def plan_path(screen: str) -> str:
    """The plan's index, relative to the results root."""
    return PLAN.format(screen=screen)


def shard_spec_path(screen: str, protein: str, shard: str) -> str:
    """A shard's spec, relative to the results root."""
    return SHARD_SPEC.format(screen=screen, protein=protein, shard=shard)


def spec_bytes(spec: ShardSpec) -> bytes:
    return json.dumps(spec.to_json(), separators=(",", ":")).encode()


def index_bytes(index: ScreenPlan) -> bytes:
    return json.dumps(index.to_json(), indent=1).encode()


def changed_files(files: Mapping[str, bytes], existing: Mapping[str, str]) -> dict[str, bytes]:
    """Those of `files` whose content differs from what is there: `existing` maps each name
    that exists to its content's md5 (the digest a bucket listing gives)."""
    from hashlib import md5

    return {
        name: data
        for name, data in files.items()
        if existing.get(name) != md5(data, usedforsecurity=False).hexdigest()
    }


def read_plan(path: str | Path) -> ScreenPlan:
    return ScreenPlan.model_validate_json(Path(path).read_bytes())


def read_shard_spec(spec_path: str | Path, plan: str | Path, protein: str, shard: str) -> ShardSpec:
    """The spec of shard `protein`/`shard` at `spec_path`, checked against the plan's index
    at `plan`; PlanMismatch when it is not the spec the plan recorded for that shard."""
    data = Path(spec_path).read_bytes()
    index = read_plan(plan)
    planned = index.entry(protein, shard)
    actual = sha256_bytes(data)
    if planned is None or planned.sha256 != actual:
        recorded = "no spec" if planned is None else f"sha256 {planned.sha256}"
        raise PlanMismatch(
            f"the spec of shard {protein}/{shard} ({spec_path}, sha256 {actual}) is not the one "
            f"the plan {plan} recorded ({recorded}): it changed after planning. Nothing was "
            "predicted; run the screen again, so that it is planned anew and the shard runs "
            "what was planned."
        )
    return ShardSpec.model_validate_json(data)
