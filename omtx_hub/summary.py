"""summary.json: what a screen found, as one typed and versioned document.

`omtx_hub.aggregate` makes it (`summary()`) from the plan, the ranked results table and the
shard manifests, and writes it with `write_summary`; the dashboards read it with
`read_summary`. Its JSON Schema, workflow/schemas/summary.schema.json, is generated from
these models (`python -m omtx_hub.schema`).

Versions: `summary_version`, the document's first key, is SUMMARY_VERSION in every summary
this code writes. It goes up by one whenever a key is added, removed or changes meaning, and
a reader takes only its own version, so no reader keeps fallbacks for older shapes:
`read_summary` refuses a summary of another version (or one from before the field existed),
naming the file and the remedy, aggregating again (`snakemake --forcerun aggregate_screen`),
which reads the shard manifests and the store and recomputes no prediction.

As in `omtx_hub.records`, a field is written only when it was set: the parts only some
screens have (`replicates`, `selectivity`, `warning`; a protein's `warning` and MSA source; a
top-list entry's replicate spread) are absent, not null, where they do not apply.

A contracts module: it imports nothing of omtx_hub but other contracts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from omtx_hub.fileio import replaced_atomically
from omtx_hub.records import Weights
from omtx_hub.result_tables import MsaMode

SUMMARY_VERSION = 1
# How to replace a summary this code cannot read.
AGGREGATE_AGAIN = (
    "aggregate the screen again with this omtx-hub (every prediction is reused): "
    "`snakemake --forcerun aggregate_screen` with the screen's config"
)
# What the affinity columns of batch_results.csv and the top lists are measured in.
UNITS = {
    "affinity_pred_value": "log10(IC50 / uM), Boltz-2",
    "affinity_pred_value1, affinity_pred_value2": "log10(IC50 / uM) of each head of "
    "Boltz-2's affinity ensemble (affinity_pred_value: their mean, MW-corrected with "
    "model.affinity_mw_correction)",
    "ic50_um": "10 ** affinity_pred_value, micromolar",
    "pic50": "6 - affinity_pred_value",
    "delta_g_kcal_mol": "(affinity_pred_value - 6) * 1.364, approx. binding free "
    "energy at 298 K treating IC50 as Kd",
}


class UnreadableSummary(ValueError):
    """A summary.json of another version, or not a valid one."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


T = TypeVar("T")
# A key only some summaries have: absent where it does not apply, never null (None in the
# model, and not set). Its schema says so: the value's type, no default.
Absent = Annotated[T | SkipJsonSchema[None], Field(json_schema_extra=_no_default)]


class Chain(_Part):
    """A chain entry of the receptor (one chain, or identical chains) and its MSA."""

    ids: list[str]
    type: Absent[Literal["dna", "rna"]] = Field(
        None, description="`dna` or `rna`; absent for a protein chain."
    )
    length: int
    msa: Absent[MsaMode] = Field(None, description="Absent for a DNA or RNA chain.")
    modifications: Absent[list[dict[str, JsonValue]]] = Field(
        None, description="Modified residues (`position`, `ccd`); absent where none."
    )
    cyclic: Absent[bool] = Field(None, description="true for a cyclic chain; else absent.")
    msa_source: Absent[str] = Field(
        None,
        description="`msa: server`: the server, its pairing strategy and the result store "
        "entry; an MSA file: its path. Absent single-sequence.",
    )
    msa_sha256: Absent[str] = Field(
        None, description="The sha256 of the MSA file the keys contain. Absent single-sequence."
    )


class Cofactor(_Part):
    """A cofactor of the receptor: its chain ids and its molecule, by CCD code or SMILES."""

    ids: list[str]
    ccd: Absent[str] = None
    smiles: Absent[str] = None


class Protein(_Part):
    """A protein (receptor) of the screen; a single chain's MSA is also given here."""

    name: str
    engine: Absent[str] = Field(
        None, description="A screen of two engines: the engine that predicts this protein."
    )
    length: int = Field(description="Residues, over every protein chain.")
    msa: str = Field(
        description="The chains' common MSA mode, else each chain entry's as "
        "'<first chain id>=<mode>' joined by '; '."
    )
    chains: list[Chain]
    ligand_chain: str = Field(description="The screened ligand's chain in every structure.")
    ligand_chains: Absent[list[str]] = Field(
        None,
        description="With `ligand_copies`: the chain of each copy (the first is "
        "`ligand_chain`); absent for one copy.",
    )
    cofactors: list[Cofactor]
    pocket: dict[str, JsonValue] | None = Field(
        description="The receptor's `pocket` as the config gives it (config.schema.json)."
    )
    contacts: int = Field(description="How many contact restraints the receptor has.")
    templates: list[str] = Field(description="File names of the structure templates.")
    covalent: Absent[dict[str, JsonValue]] = Field(
        None,
        description="The covalent site and warhead as the config gives them; absent "
        "for a non-covalent screen.",
    )
    msa_source: Absent[str] = None
    msa_sha256: Absent[str] = None
    warning: Absent[str] = Field(
        None, description="Set when a chain is predicted single-sequence (no MSA)."
    )


class Counts(_Part):
    """The screen as a whole. `completed` and `failed` count rows (protein x sheet row: a
    compound listed under two names counts twice); the per-protein counts count compounds."""

    ligands: int = Field(description="Sheet rows.")
    distinct_compounds: int
    standardised: int = Field(
        description="Sheet rows whose modelled molecule differs from the SMILES as written."
    )
    targets: int
    rows: int
    completed: int
    failed: int
    computed: int
    reused_from_store: int
    shards: int


class Ranking(_Part):
    """How batch_results.csv's `rank` and the top lists order the compounds."""

    rank_by: str = Field(
        description="`report.rank_by`; a screen of two engines: its main engine's proteins'."
    )
    rule: str
    binder_threshold: float
    by_protein: Absent[dict[str, str]] = Field(
        None,
        description="A screen of two engines: each protein's ranking (a Chai-1 protein's by "
        "`aggregate_score`); the top hits across proteins are of those ranked by `rank_by`.",
    )


class CompoundCounts(_Part):
    """Distinct compounds of one protein, or summed over the proteins (`overall`)."""

    compounds: int
    completed: int
    failed: int
    pending: int
    binders: int


class ProteinCounts(_Part):
    """One protein's sheet rows and distinct compounds (a compound listed under several names
    counts once)."""

    sheet_rows: int
    compounds: int
    completed: int
    failed: int
    pending: int
    binders: int


class Statistics(_Part):
    """A score over one protein's completed compounds or its predicted binders: `mean`, or
    for IC50 `geometric_mean` (its arithmetic mean would be set by the weakest compounds)."""

    over: Literal["completed_compounds", "predicted_binders"]
    count: int
    mean: float | None = None
    geometric_mean: float | None = None
    median: float | None
    min: float | None
    max: float | None

    @model_validator(mode="after")
    def _one_mean(self) -> Statistics:
        if len({"mean", "geometric_mean"} & self.model_fields_set) != 1:
            raise ValueError("give either mean or geometric_mean")
        return self


class TopEntry(_Part):
    """A compound of a top list: its first sheet row, its scores and its other names."""

    rank: int = Field(description="Its rank on its protein (batch_results.csv's `rank`).")
    protein: str
    index: int = Field(description="Its first sheet row.")
    ligand_name: str
    ligand_id: str
    # A molecule's; a binder-sequence screen's entries have `sequence` and `binder_iptm`
    # instead, and no affinity (omtx_hub.binders).
    smiles: str | None = None
    modeled_smiles: str | None = None
    sequence: Absent[str] = None
    flags: str
    affinity_probability_binary: float | None = None
    affinity_pred_value: float | None = None
    pic50: float | None = None
    binder_iptm: Absent[float] = None
    # A Chai-1 screen's entries have `aggregate_score` instead (docs/engines.md).
    confidence_score: Absent[float | None] = None
    aggregate_score: Absent[float] = None
    structure: str | None
    # With replicates (records.REPLICATE_COLUMNS): each spread, null with fewer than two
    # completed replicates, and how many completed.
    affinity_probability_binary_std: float | None = None
    affinity_pred_value_std: float | None = None
    confidence_score_std: float | None = None
    replicates: Absent[int] = None
    also_named: list[str] = Field(description="The sheet's other names of the compound.")


class ProteinSummary(_Part):
    """One protein, over its distinct compounds (omtx_hub.protein_summary)."""

    chains: dict[str, int] = Field(description="Boltz's chains of each kind in its inputs.")
    counts: ProteinCounts
    statistics: dict[str, Statistics] = Field(description="Per score column.")
    not_applicable: dict[str, str] = Field(
        description="Score columns that are 0 by construction for its chains, and why."
    )
    top_by_binder_probability: list[TopEntry]
    top_by_affinity: list[TopEntry] = Field(description="Among the predicted binders only.")
    # By confidence_score; a Chai-1 screen's by aggregate_score.
    top_by_confidence: list[TopEntry]


class FlagCount(_Part):
    """A flag code: how many rows (protein x sheet row) and sheet rows carry it."""

    rows: int
    ligands: int


class Timing(_Part):
    """Wall seconds, summed over the shard jobs."""

    boltz_wall_s: float
    job_wall_s: float


class GpuSpent(_Part):
    """GPU time and its cost, from what the shard jobs measured (omtx_hub.cost)."""

    rate_usd_per_hour: float
    job_seconds: float
    boltz_seconds: float
    computed_targets: int
    retried_shards: int
    earlier_attempts: int
    seconds_per_computed_target: float | None
    seconds_per_computed_target_by_engine: Absent[dict[str, float | None]] = Field(
        None,
        description="A screen of two engines: each engine's, for its "
        "`cost.engine_seconds_per_target`.",
    )
    cost_usd_jobs: float
    startup_seconds_assumed: float
    cost_usd_with_startup: float
    note: str


class Replicates(_Part):
    """`model.replicates` > 1: how many, their seeds and how the rows report them."""

    count: int
    seeds: list[int]
    scores: str
    spread: dict[str, str] = Field(description="Column -> what it holds.")
    ranking: str
    structure: str


class Parameters(_Part):
    """The config's sections that shape the predictions, as validated."""

    model: dict[str, JsonValue]
    runtime: dict[str, JsonValue]
    shard_size: int
    store: str


class Selectivity(_Part):
    """The selectivity panel and what its table (selectivity.csv) holds."""

    target: str
    anti_targets: list[str]
    file: str
    compounds: int
    compared: int = Field(
        description="Compounds completed on every protein of the panel (binder probability "
        "on each, pIC50 where a predicted binder; a binder-sequence screen's binders: "
        "binder_iptm on each)."
    )
    binders_of_target_only: Absent[int] = Field(
        None,
        description="Of the compared, those predicted to bind the target and no anti-target "
        "(absent for a binder-sequence screen, whose panel has no binder rule).",
    )


class ConsensusPair(_Part):
    """A `consensus` pair (config): how its Boltz-2 rows compare with Chai-1's (the columns
    are in docs/engines.md, "Consensus")."""

    boltz2: str = Field(description="The pair's Boltz-2 protein: its rows carry the consensus.")
    chai1: str
    rows: int = Field(description="The Boltz-2 protein's rows (sheet rows).")
    compared: int = Field(
        description="Rows whose two structures were compared (`consensus_rmsd` set)."
    )
    agree: int = Field(description="Of the compared, those whose `agree` is true.")
    not_compared: int = Field(description="Rows with a `consensus_error` instead.")
    pose_rmsd_threshold_a: float = Field(
        description="`agree`'s ligand pose RMSD bound (Å): the pair's `pose_rmsd_a`."
    )
    min_boltz2_confidence: float = Field(
        description="`agree`'s least Boltz-2 `confidence_score` (0: no gate)."
    )
    min_chai1_confidence: float = Field(
        description="`agree`'s least Chai-1 `aggregate_score` (0: no gate)."
    )


class ScreenSummary(_Part):
    """summary.json."""

    summary_version: Literal[SUMMARY_VERSION] = Field(
        description="This document's version (omtx_hub.summary.SUMMARY_VERSION)."
    )
    screen: str
    generated_at: str = Field(description="ISO 8601, UTC.")
    released_weights: bool = Field(description="Whether every engine's weights are released.")
    weights: Weights = Field(description="The main engine's (`model.engine`).")
    engine_weights: Absent[dict[str, Weights]] = Field(
        None, description="A screen of two engines (`proteins[].engine`): each engine's."
    )
    key_scheme: int = Field(
        description='How each row\'s `key` was made (README, "What the key contains").'
    )
    proteins: list[Protein]
    counts: Counts
    ranking: Ranking
    overall: CompoundCounts = Field(
        description="Summed over the proteins: counts add up across proteins, score "
        "distributions do not pool (each protein has its own: per_protein)."
    )
    per_protein: dict[str, ProteinSummary]
    best_targets: list[TopEntry] = Field(
        description="Across proteins, in report.rank_by's order: the dashboard's top hits."
    )
    flags: dict[str, FlagCount] = Field(description="Per flag code of batch_results.csv.")
    timing: Timing
    gpu: GpuSpent
    units: dict[str, str]
    replicates: Absent[Replicates] = None
    parameters: Parameters
    software: dict[str, str] = Field(description="Package -> installed version.")
    command: str
    selectivity: Absent[Selectivity] = None
    consensus: Absent[list[ConsensusPair]] = Field(
        None, description="Per `consensus` pair of the config; absent without one."
    )
    warning: Absent[str] = Field(
        None, description="Set when the weights are not the released ones."
    )

    def to_json(self) -> dict:
        """The JSON form: the fields that were set, in the models' order."""
        return self.model_dump(mode="json", exclude_unset=True)


def write_summary(summary: ScreenSummary, path: Path) -> None:
    """summary.json, replaced atomically: a reader (the dashboard, `omtx-hub status`, a user's
    script) sees the previous summary or the new one, never a part."""
    with replaced_atomically(path) as staging:
        staging.write_text(json.dumps(summary.to_json(), indent=1) + "\n")


def read_summary(path: str | Path) -> ScreenSummary:
    """A screen's summary.json, validated; UnreadableSummary for one of another version."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UnreadableSummary(f"{path} is not JSON ({error}): {AGGREGATE_AGAIN}") from error
    version = document.get("summary_version") if isinstance(document, dict) else None
    if version != SUMMARY_VERSION:
        found = (
            "no summary_version (written before summaries had one)"
            if version is None
            else f"summary_version {version}"
        )
        raise UnreadableSummary(
            f"{path} has {found}; this omtx-hub reads summary_version {SUMMARY_VERSION}: "
            f"{AGGREGATE_AGAIN}"
        )
    try:
        return ScreenSummary.model_validate(document)
    except ValidationError as error:
        raise UnreadableSummary(
            f"{path} is not a valid summary_version {SUMMARY_VERSION} summary ({error}): "
            f"{AGGREGATE_AGAIN}"
        ) from error
