"""The contracts between the workflow's steps: what a prediction's record, a shard manifest
and the weights identity hold, defined once.

`omtx_hub.predict` writes them, `omtx_hub.aggregate` and `omtx_report` read them, and the
test fixtures build them. The JSON field names are the ones on disk (the store's
`record.json`, `results/<screen>/shards/<protein>/<shard>.json`): a field is written only
when it was set, so a failed target's record keeps its short form.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from omtx_hub.fileio import write_atomically

# The scores of a prediction, as Boltz-2 writes them (omtx_hub.boltz_io reads them) and the
# affinity units derived from them.
CONFIDENCE_FIELDS = (
    "confidence_score",
    "ptm",
    "iptm",
    "ligand_iptm",
    "protein_iptm",
    "complex_plddt",
    "complex_iplddt",
    "complex_pde",
    "complex_ipde",
)
AFFINITY_FIELDS = ("affinity_pred_value", "affinity_probability_binary")
# Each head of Boltz-2's affinity ensemble, under the keys its writer uses.
AFFINITY_HEAD_FIELDS = (
    "affinity_pred_value1",
    "affinity_probability_binary1",
    "affinity_pred_value2",
    "affinity_probability_binary2",
)
DERIVED_FIELDS = ("ic50_um", "pic50", "delta_g_kcal_mol")
# Units: Boltz-2's `affinity_pred_value` is log10(IC50) with IC50 in micromolar. From it:
# - `ic50_um` = 10 ** affinity_pred_value
# - `pic50` = 6 - affinity_pred_value (= -log10(IC50 in molar))
# - `delta_g_kcal_mol` = (affinity_pred_value - 6) * 1.364, the binding free energy
#   RT*ln(IC50 [M]) at 298.15 K (RT*ln(10) = 1.364 kcal/mol), treating IC50 as a Kd; this is
#   the conversion the Boltz authors suggest ((6 - y) * 1.364 as a positive magnitude), with
#   the sign of a free energy, so stronger binders are more negative.
RT_LN10_KCAL_MOL = 1.364
SCORE_FIELDS = AFFINITY_FIELDS + AFFINITY_HEAD_FIELDS + DERIVED_FIELDS + CONFIDENCE_FIELDS
# A binder screen's interface scores (omtx_hub.binders, from Boltz's confidence JSON and
# structure): `binder_iptm` ranks it; `binder_plddt` is the mean of the binder's per-residue
# pLDDT, `binder_residue_plddt` those values (0-1, in sequence order) for the dashboard strip.
BINDER_SCORE_FIELDS = ("binder_iptm", "binder_plddt")
BINDER_RESIDUE_PLDDT = "binder_residue_plddt"
# A Chai-1 prediction's own scores (omtx_hub.chai1, from the runner's scores.json; `ptm` and
# `iptm` are the shared CONFIDENCE_FIELDS): chai-lab's `aggregate_score` (0.2 pTM + 0.8 ipTM,
# less 100 with inter-chain clashes; chai_lab/ranking/rank.py), which ranks a Chai-1 screen;
# each chain pair's ipTM; whether chains clash.
CHAI1_SCORE = "aggregate_score"
CHAI1_CHAIN_PAIR_IPTM = "chain_pair_iptm"
CHAI1_CLASHES = "has_inter_chain_clashes"
CHAI1_COLUMNS = (CHAI1_SCORE, CHAI1_CHAIN_PAIR_IPTM, CHAI1_CLASHES)
# A consensus pair's Boltz-2 rows (config `consensus`, omtx_hub.screen_consensus): the Chai-1
# prediction's scores of the same sheet row, the ligand pose RMSD (Å) between the two engines'
# structures and whether they agree (omtx_hub.consensus), why they were not compared, and what
# the dashboard's viewer shows: Chai-1's structure and the superposition that moves it into
# Boltz-2's frame.
CONSENSUS_SCORES = ("chai1_aggregate_score", "chai1_iptm", "consensus_rmsd")
CONSENSUS_AGREE = "agree"
CONSENSUS_ERROR = "consensus_error"
CHAI1_STRUCTURE = "chai1_structure"
CHAI1_SUPERPOSITION = "chai1_superposition"
CONSENSUS_COLUMNS = (
    *CONSENSUS_SCORES,
    CONSENSUS_AGREE,
    CONSENSUS_ERROR,
    CHAI1_STRUCTURE,
    CHAI1_SUPERPOSITION,
)


def affinity_units(log_ic50):
    """The derived affinity units (`DERIVED_FIELDS`) of a log10 IC50 (in µM): a number, or a
    pandas Series of them."""
    # A Series' IC50s are taken one by one with Python's power (the C library's pow), as a
    # number's is: numpy's vectorised power runs a SIMD routine on CPUs with AVX-512 that can
    # differ from it in the last bit, and a screen's results must not depend on the CPU.
    ic50 = log_ic50.map(_ten_to_the) if hasattr(log_ic50, "map") else 10.0**log_ic50
    return {
        "ic50_um": ic50,
        "pic50": 6.0 - log_ic50,
        "delta_g_kcal_mol": (log_ic50 - 6.0) * RT_LN10_KCAL_MOL,
    }


def _ten_to_the(exponent: float) -> float:
    return 10.0**exponent


# With model.replicates > 1 (omtx_hub.replicates): the scores whose spread across replicates
# batch_results.csv reports, as `<score>_std`, with the number of completed replicates.
SPREAD_FIELDS = ("affinity_probability_binary", "affinity_pred_value", "confidence_score")
REPLICATE_COLUMNS = (*(f"{field}_std" for field in SPREAD_FIELDS), "replicates")
# A molecule's structural alerts and properties (omtx_hub.medchem.MoleculeChemistry's fields).
CHEMISTRY_COLUMNS = (
    "alerts",
    "mw",
    "clogp",
    "tpsa",
    "hbd",
    "hba",
    "rotatable_bonds",
    "qed",
    "formal_charge",
)
# batch_results.csv's verdict of the config's triage rules (omtx_hub.triage).
TRIAGE_COLUMN = "triage"
# batch_results.csv: these columns in this order (those of replicates only with them), then
# the ligand sheet's own columns.
RESULT_COLUMNS = [
    "rank",
    "protein",
    "index",
    "ligand_name",
    "ligand_id",
    "smiles",
    "ccd",
    "canonical_smiles",
    "modeled_smiles",
    "standardisation",
    # A binder screen's sheet columns (omtx_hub.binders), instead of the molecule's.
    "sequence",
    "chain_type",
    "binder_msa",
    "cyclic",
    "flags",
    "status",
    "error",
    "failure",
    *SCORE_FIELDS,
    *BINDER_SCORE_FIELDS,
    BINDER_RESIDUE_PLDDT,
    *CHAI1_COLUMNS,
    *CONSENSUS_COLUMNS,
    *REPLICATE_COLUMNS,
    # The pose checks and interactions (omtx_hub.result_tables.POSE_CHECK_COLUMNS).
    "posebusters_pass",
    "posebusters_failed",
    "interactions",
    "pose_checks_error",
    "source",
    "runtime_s",
    "structure",
    "key",
    "replicate_keys",
    "released_weights",
    "msa",
    *CHEMISTRY_COLUMNS,
    TRIAGE_COLUMN,
]
# The `flags` codes a row gets from its protein, after its ligand's
# (omtx_hub.result_tables.LIGAND_FLAGS).
NO_MSA = "no-msa"
# Boltz's docs/prediction.md (jwohlwend/boltz 832486d): "At this point, Boltz only supports
# the computation of affinity of small molecules to protein targets, if ran with an
# RNA/DNA/co-factor target, the code will not crash but the output will be unreliable."
# They make no claim for a ligand bonded to its target (docs/inputs.md, Covalent screens).
COFACTOR_AFFINITY = "cofactor-affinity"
COVALENT_AFFINITY = "covalent-affinity"
NUCLEIC_ACID_AFFINITY = "nucleic-acid-affinity"
PROTEIN_FLAGS = {
    NO_MSA: "no MSA: reduced accuracy",
    COFACTOR_AFFINITY: "affinity computed with a cofactor in the receptor, which Boltz says "
    "makes the affinity output unreliable (docs/prediction.md); ligand_iptm is over the "
    "cofactor's protein pairs too",
    COVALENT_AFFINITY: "covalent complex: Boltz's affinity is not validated for covalent "
    "binders (not a kinact/KI)",
    NUCLEIC_ACID_AFFINITY: "DNA/RNA in the receptor: Boltz calls its affinity unreliable",
}


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> dict:
        """The JSON form written to disk: the fields that were set, by their names."""
        return self.model_dump(mode="json", exclude_unset=True)


class Weights(_Contract):
    """Which model weights predict: the sha256 of each checkpoint file used (the affinity
    one only when affinity is predicted), and whether they are the released ones
    (`omtx_hub.weights`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identity: str
    released: bool
    note: str
    structure_sha256: str | None = None
    affinity_sha256: str | None = None
    # Chai-1's: the sha256 of each of its six model components, by file name (omtx_hub.chai1).
    components_sha256: dict[str, str] | None = None


class Ligand(_Contract):
    """A sheet row of a target's compound (rows with the same modelled SMILES share it)."""

    index: int
    ligand_id: str
    name: str


class Binder(_Contract):
    """A binder-sequence screen's screened chain (omtx_hub.binders): a peptide, protein, DNA
    or RNA sequence, its MSA (`empty` or a file; proteins only) and whether it is cyclic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sequence: str
    type: Literal["protein", "dna", "rna"]
    msa: str | None = None
    cyclic: bool = False
    # What its MSA is, as its key was made with it (omtx_hub.keys.binder_identity): set by
    # the plan, checked by the shard job before Boltz reads the file.
    msa_identity: str | None = None


class Target(_Contract):
    """A protein x compound (x replicate) of a screen, as the plan made it: what one prediction
    is of, and under which key the result store keeps it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    protein: str
    # The modelled molecule: its SMILES; for a sheet row by CCD code, its `ccd` code and the
    # cache molecule's SMILES (None when Boltz's molecule cache was not there at planning).
    smiles: str | None
    ccd: str | None = None
    # A binder screen's chain (then `smiles` is None); set only in binder screens.
    binder: Binder | None = None
    # The sheet rows of the compound (rows with the same modelled molecule share a target).
    ligands: list[Ligand]
    # Which of `model.replicates` it is; set only with replicates.
    replicate: int | None = None

    def placement(self) -> dict:
        """Where the target sits in its screen, for its manifest entry: its protein, its sheet
        rows and, with replicates, which replicate it is."""
        placement = {"protein": self.protein, "ligands": self.ligands}
        if self.replicate is not None:
            placement["replicate"] = self.replicate
        return placement


class TargetRecord(_Contract):
    """A store entry's `record.json`: one protein x compound prediction, or its failure."""

    key: str
    status: Literal["completed", "failed", "pending"]
    error: str | None = None
    # A failed target's: 'permanent' (Boltz raised on the input; not predicted again) or
    # 'retryable' (out of memory, no reason given); omtx_hub.failures.
    failure: Literal["permanent", "retryable"] | None = None
    smiles: str | None = None
    protein_sha256: str | None = None
    # The MSA the prediction used: 'single-sequence', or '<a3m|csv>:<sha256 of the file>'.
    msa: str | None = None
    affinity_pred_value: float | None = None
    affinity_probability_binary: float | None = None
    # The affinity ensemble's two heads; records written before they were kept lack them.
    affinity_pred_value1: float | None = None
    affinity_probability_binary1: float | None = None
    affinity_pred_value2: float | None = None
    affinity_probability_binary2: float | None = None
    ic50_um: float | None = None
    pic50: float | None = None
    delta_g_kcal_mol: float | None = None
    confidence_score: float | None = None
    ptm: float | None = None
    iptm: float | None = None
    ligand_iptm: float | None = None
    protein_iptm: float | None = None
    complex_plddt: float | None = None
    complex_iplddt: float | None = None
    complex_pde: float | None = None
    complex_ipde: float | None = None
    # A binder screen's (BINDER_SCORE_FIELDS); absent for small molecules.
    binder_iptm: float | None = None
    binder_plddt: float | None = None
    binder_residue_plddt: list[float] | None = None
    # A Chai-1 prediction's (CHAI1_COLUMNS; `per_chain_pair_iptm[i][j]` for chains i, j in
    # chain-letter order); absent for Boltz-2's.
    aggregate_score: float | None = None
    per_chain_pair_iptm: list[list[float]] | None = None
    has_inter_chain_clashes: bool | None = None
    seconds_since_shard_start: float | None = None
    boltz_version: str | None = None
    # The engine that predicted: absent for Boltz-2 (every record before engines existed),
    # `chai1` with the chai-lab version.
    engine: Literal["chai1"] | None = None
    chai_lab_version: str | None = None
    model: dict | None = None
    precision: str | None = None
    weights: Weights
    # The cache-key scheme (omtx_hub.plan.KEY_SCHEME) the entry was keyed under; entries
    # without it predate the field (scheme 1).
    key_scheme: int | None = None
    computed_at: str | None = None


class Interaction(_Contract):
    """One interaction of a pose's ligand with a receptor residue (omtx_hub.pose_checks):
    the residue in Boltz's numbering (1-based along its chain), the type (`hbond-donor`: the
    ligand donates), the ligand atoms by Boltz's names, the distance in Å."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chain: str
    residue: str
    number: int
    type: str
    ligand_atoms: list[str]
    distance: float


class PoseTriage(_Contract):
    """A completed target's pose checks (PoseBusters) and interactions (ProLIF), kept in the
    store by target key and checker `version` (omtx_hub.pose_store); `error` instead where the
    checkers could not run on it."""

    version: str
    posebusters_pass: bool | None = None
    # The names of the PoseBusters checks the pose fails.
    posebusters_failed: list[str] = []
    interactions: list[Interaction] = []
    error: str | None = None
    # CPU seconds the checks took (docs/results.md, "Pose checks and interactions": cost).
    cpu_s: float | None = None


class ManifestEntry(TargetRecord):
    """A target as one screen saw it: the stored record plus where it sits in the screen.

    `runtime_s` is the GPU wall time this screen's shard spent on it (0 when reused);
    `structures` maps each of its sheet rows' ligand_id to the exported structure's name
    (replicate 0's only); `replicate`: which of `model.replicates` it is (set only with
    replicates).
    """

    protein: str
    ligands: list[Ligand]
    source: Literal["computed", "reused", "failed", "pending"]
    replicate: int = 0
    runtime_s: float | None = None
    structures: dict[str, str] = {}
    # The pose checks and interactions of a completed target (omtx_hub.pose_store); absent on
    # manifests written before them, or with `triage.pose_checks: false`.
    triage: PoseTriage | None = None
    # Boltz's own structure file while the shard runs; never written.
    _local_structure: str | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, record: TargetRecord, **placement) -> ManifestEntry:
        return cls.model_validate({**record.to_json(), **placement})


class ShardTotals(_Contract):
    """What one shard job counted and measured."""

    screen: str
    protein: str
    shard: str
    targets: int
    reused: int
    computed: int
    failed: int
    boltz_wall_s: float
    job_wall_s: float
    # Snakemake's attempt that wrote the manifest; > 1 after preempted or failed attempts.
    # Manifests written before the field existed read as first attempts.
    attempt: int = 1
    finished_at: str | None = None


class MachineSeen(_Contract):
    """What a shard job that ran Boltz saw of its machine (omtx_hub.machine): the canary's
    report (omtx_hub.canary) shows it before the other shards are submitted."""

    gpu: str  # torch's name of device 0, or 'no CUDA device'
    torch: str
    torch_cuda: str | None  # the CUDA version torch was built for; None: a CPU-only build
    driver: str | None  # the NVIDIA kernel driver's version line; None: no driver loaded
    # The image's digest, where the job can see it ($OMTX_IMAGE_DIGEST); None otherwise.
    image_digest: str | None = None
    # Seconds from the machine's boot to the job's start (the host's uptime then): on a
    # Google Batch VM its boot, the GPU driver install and the image pull.
    vm_startup_s: float | None = None


class ShardManifest(ShardTotals):
    """`results/<screen>/shards/<protein>/<shard>.json`: a finished shard and its targets."""

    records: list[ManifestEntry]
    # Set by a job that ran Boltz; absent where every target came from the store.
    machine: MachineSeen | None = None

    def totals(self) -> ShardTotals:
        return ShardTotals.model_validate(
            self.model_dump(exclude={"records", "machine"}, exclude_unset=True)
        )


class CanaryReport(_Contract):
    """`results/<screen>/canary/<protein>/<shard>.json`: the first shard of a remote run,
    run alone before the others are submitted (omtx_hub.canary), and the cost of the rest
    estimated again with what it measured."""

    protein: str
    shard: str
    machine: MachineSeen | None
    computed_targets: int
    # Measured from the canary's records; None where it predicted fewer than two targets.
    seconds_per_target: float | None
    # Seconds from `boltz predict`'s start to its first result, less one target's time:
    # loading the model and processing the inputs.
    model_load_s: float | None
    # The start-up the estimate now uses: the VM's (boot, driver, image pull) plus the
    # model load; the configured cost.startup_s_per_shard where one was not measured.
    startup_s_per_shard: float
    estimate: str  # the pending work's cost with these numbers, as printed
    estimated_worst_case_usd: float
    budget_usd: float | None = None
    # The image's digest as Artifact Registry gave it for the profile's tag when the run
    # started (omtx_hub.vm_preflight): the image the VMs pulled.
    image_digest: str | None = None


def read_manifest(source: str | Path | bytes) -> ShardManifest:
    """A shard manifest, validated: a file's path, or its content (e.g. read from a bucket)."""
    content = source if isinstance(source, bytes) else Path(source).read_bytes()
    return ShardManifest.model_validate_json(content)


def write_manifest(manifest: ShardManifest, path: Path) -> None:
    """Write a manifest atomically: Snakemake and readers never see half a file."""
    write_atomically(path, json.dumps(manifest.to_json(), indent=1))


def read_canary(source: str | Path | bytes) -> CanaryReport:
    """A canary report, validated: a file's path, or its content."""
    content = source if isinstance(source, bytes) else Path(source).read_bytes()
    return CanaryReport.model_validate_json(content)


def write_canary(report: CanaryReport, path: Path) -> None:
    write_atomically(path, json.dumps(report.to_json(), indent=1))
