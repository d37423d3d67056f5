"""The screen configuration: pydantic models and friendly validation errors.

Every key a user can write is declared here; unknown keys are rejected so that a typo
(`samping_steps`) fails the plan instead of silently using a default. `config/README.md`
documents each key. The models are pure: validating a config reads no file, cache or store,
so every process (a shard job on its own machine too) can load it cheaply. What the config
names on disk (the sheet, MSA files, templates, checkpoints, Boltz's molecule cache) is
checked once, before planning, by omtx_hub.preflight, with messages in the same form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from omtx_hub.boltz_cache import molecules_directory
from omtx_hub.credentials import CREDENTIAL_KEY, MSA_CREDENTIAL_VARIABLES
from omtx_hub.paths import path_problem
from omtx_hub.receptor import (
    CHAIN_ID_PATTERN,
    DEFAULT_MSA,
    MAX_RESIDUES,
    MSA_DESCRIPTION,
    SHORTHAND_CHAIN,
    ChainId,
    Cofactor,
    Contact,
    Covalent,
    KeyedProblems,
    Pocket,
    ProteinChain,
    ReceptorSpec,
    Strict,
    Template,
    check_msa_source,
    clean_sequence,
)
from omtx_hub.result_tables import (
    ALERT_FAMILIES,
    ALERT_SETS,
    PROPERTY_COLUMNS,
)

# `proteins[].residue_numbering`: the user's number of a chain's first residue (a PDB entry's
# numbering may start at 0 or below, before an expression tag).
FirstResidue = Annotated[int, Field(ge=-9999, le=MAX_RESIDUES)]
SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
SafeName = Annotated[str, StringConstraints(pattern=SAFE_NAME_PATTERN)]


MSA_SERVER_URL = "https://api.colabfold.com"
# runtime.msa_timeout_s: a ColabFold query takes minutes (Boltz's client estimates 150 s per
# sequence), longer when the public server is busy.
MSA_TIMEOUT_S = 3600.0
# Replicates per target: each multiplies the GPU time of the screen.
MAX_REPLICATES = 20
# Boltz seeds its process with Lightning's seed_everything, which takes 0 .. 2**32 - 1 (numpy's
# range) and silently seeds 0 instead of any other value (lightning_fabric/utilities/seed.py).
MAX_SEED = 2**32 - 1
# consensus[].pose_rmsd_a: the usual bound for a correct pose in docking benchmarks (cited in
# omtx_hub.consensus, which applies it).
POSE_RMSD_THRESHOLD_A = 2.0
# The Snakefile's own `configfile:`, relative to the directory snakemake runs in.
WORKFLOW_CONFIG = Path("config/config.yaml")


class ConfigError(ValueError):
    """A configuration problem, worded for the person who edits the config file."""


_Strict = Strict


class Screen(_Strict):
    name: SafeName = Field(
        description="1-64 letters, digits, `_`, `-`. Results go to `results/<name>/`; "
        "structure files are named `<name>_<protein>_<index>_<ligand>.cif`."
    )
    description: str = Field("", description="Free text, shown in the summary.")


class Protein(_Strict):
    """A receptor: the protein chain(s) and everything modelled with each screened ligand.

    A single chain is written as `sequence` (+ `msa`) on the entry (chain A); several chains,
    copies, cofactors, constraints and templates as `chains` and the keys beside it
    (omtx_hub.receptor; config/README.md, "Describing the target")."""

    name: SafeName = Field(description="Same rules as `screen.name`; unique.")
    sequence: str | None = Field(
        None,
        description="A single-chain receptor's sequence (chain A): one-letter amino-acid "
        "codes; whitespace and line breaks are removed, ASCII lower case is accepted (no other "
        "case folding: 'ß' is refused, never read as 'SS'). Anything else is rejected with its "
        "position. Use `chains` instead for several chains.",
    )
    msa: str | None = Field(
        None,
        description="With `sequence`: its MSA. " + MSA_DESCRIPTION,
    )
    chains: list[ProteinChain] | None = Field(
        None,
        min_length=1,
        description="The receptor's protein chains (instead of `sequence`), each with its own "
        "`id`, `sequence`, `msa` and `copies`.",
    )
    cofactors: list[Cofactor] = Field(
        [], description="Cofactors and ions modelled with every ligand, by CCD code or SMILES."
    )
    pocket: Pocket | None = Field(
        None, description="Steers every screened ligand into this binding site."
    )
    contacts: list[Contact] = Field(
        [], description="Distance restraints between receptor residues or cofactor atoms."
    )
    templates: list[Template] = Field([], description="Structural templates (mmCIF).")
    ligand_copies: int = Field(
        1,
        ge=1,
        le=26,
        description="Copies of each screened molecule modelled together (chains after the "
        "receptor's, as Boltz's `id: [C, D]`), e.g. two ligands in a dimer's two sites. More "
        "than 1 needs `model.affinity: false`: Boltz refuses affinity for a ligand with "
        "several copies. The pocket steers the first copy.",
    )
    covalent: Covalent | None = Field(
        None,
        description="A covalent screen: the receptor atom every screened molecule bonds, and "
        "the warhead whose reacting atom bonds it (docs/inputs.md, 'Covalent screens').",
    )
    engine: Literal["boltz2", "chai1"] | None = Field(
        None,
        description="The model that predicts this protein's targets, when it is not "
        "`model.engine` (null: `model.engine`). A consensus screen screens one receptor "
        "twice, as two entries with different engines, paired in `consensus` "
        '(docs/engines.md, "Consensus").',
    )
    residue_numbering: dict[ChainId, FirstResidue] = Field(
        {},
        description="Your numbering of protein chains (UniProt's, or a PDB entry's): "
        "`{CHAIN: N}` says the first residue of that chain's sequence as given here is your "
        "residue N, and the chain is numbered on from N without gaps (e.g. `{A: 229}` for a "
        "kinase-domain construct that starts at residue 229 of the protein). With it the "
        "residues this entry names (`pocket`, `contacts`, `covalent.residue`) are in your "
        "numbering and are converted to Boltz's (1 along the sequence) before Boltz sees "
        "them; `modifications[].position` stays a position along the sequence. The "
        "`interactions` column (and so `triage.require_interactions`), interactions.csv "
        "(`number`; Boltz's in `boltz_number`) and the dashboard show your numbering. Keys "
        "and Boltz's input do not depend on it: the same residue gives the same prediction "
        "(docs/results.md, 'Residue numbering').",
    )

    @field_validator("sequence")
    @classmethod
    def _protein_letters(cls, sequence: str | None) -> str | None:
        return None if sequence is None else clean_sequence(sequence)

    @field_validator("msa")
    @classmethod
    def _msa_source(cls, msa: str | None) -> str | None:
        return None if msa is None else check_msa_source(msa)

    @model_validator(mode="before")
    @classmethod
    def _single_chain_msa_default(cls, raw):
        if isinstance(raw, dict) and "sequence" in raw and "msa" not in raw:
            return {**raw, "msa": DEFAULT_MSA}
        return raw

    @model_validator(mode="after")
    def _consistent(self) -> Protein:
        if (self.sequence is None) == (self.chains is None):
            raise ValueError("give either `sequence` (one chain) or `chains`")
        if self.chains is not None and self.msa is not None:
            raise ValueError("with `chains`, give each chain its own `msa`")
        problems = self._as_written.numbering_problems(self.residue_numbering)
        problems = problems or self.receptor.problems()
        if problems:
            raise KeyedProblems(problems)
        return self

    @cached_property
    def receptor(self) -> ReceptorSpec:
        """The receptor as Boltz gets it: residues in Boltz's numbering (`residue_numbering`
        converted)."""
        return self._as_written.in_boltz_numbering(self.residue_numbering)

    @property
    def _as_written(self) -> ReceptorSpec:
        # The shorthand's sequence and MSA were validated above (model_construct).
        chains = self.chains or [
            ProteinChain.model_construct(
                id=SHORTHAND_CHAIN, sequence=self.sequence, msa=self.msa, copies=None
            )
        ]
        return ReceptorSpec(
            tuple(chains),
            tuple(self.cofactors),
            self.pocket,
            tuple(self.contacts),
            tuple(self.templates),
            self.covalent,
            self.ligand_copies,
        )


class Ligands(_Strict):
    """The ligand sheet and how its molecules become the ones Boltz models."""

    sheet: str = Field(
        description="Path to the ligand sheet (CSV, or TSV for `.tsv`/`.txt`), relative to "
        "the directory snakemake runs in."
    )
    salts: Literal["strip", "reject"] = Field(
        "strip",
        description="SMILES of several fragments (salts, hydrates, mixtures). `strip`: keep "
        "the parent (ChEMBL's counter-ion and solvent lists, then the largest organic "
        "fragment) and say what was removed in `standardisation`. `reject`: refuse them, "
        "naming the sheet line.",
    )


class Selectivity(_Strict):
    """A selectivity panel: the screen's compounds on the target they are meant for, against
    its anti-targets (docs/results.md, "Selectivity panels")."""

    target: str = Field(description="The target the compounds are meant for: a `proteins` name.")
    anti_targets: list[str] = Field(
        min_length=1,
        description="The targets they should spare, each a `proteins` name other than "
        "`target` (`anti_targets: SRC` means `[SRC]`). Each gets the differences target minus "
        "it; `selectivity_*` is the smallest, the margin over the closest anti-target.",
    )

    @model_validator(mode="before")
    @classmethod
    def _yaml_booleans(cls, raw: object) -> object:
        # YAML 1.1 (PyYAML, Snakemake) reads the keys `on:`/`off:`, `yes:`/`no:` as booleans.
        if isinstance(raw, dict) and any(isinstance(key, bool) for key in raw):
            raise ValueError(
                "YAML reads `on:`/`off:` (and `yes:`/`no:`) as true/false; name the panel "
                "`{target: NAME, anti_targets: [NAME, ...]}`"
            )
        return raw

    @field_validator("anti_targets", mode="before", json_schema_input_type=list[str] | str)
    @classmethod
    def _one_name(cls, anti_targets: object) -> object:
        return [anti_targets] if isinstance(anti_targets, str) else anti_targets

    @model_validator(mode="after")
    def _distinct_targets(self) -> Selectivity:
        problems = []
        for index, name in enumerate(self.anti_targets):
            where = f"anti_targets[{index}]"
            if name == self.target:
                problems.append((where, f"'{name}' is `target`: it is not its own anti-target"))
            elif name in self.anti_targets[:index]:
                problems.append((where, f"'{name}' is listed twice"))
        if problems:
            raise KeyedProblems(problems)
        return self


class ConsensusPair(_Strict):
    """One receptor predicted by both engines: the `proteins` entry Boltz-2 predicts and the
    one Chai-1 predicts, with the same polymer chains (docs/engines.md, "Consensus")."""

    boltz2: str = Field(description="The `proteins` name predicted by Boltz-2.")
    chai1: str = Field(description="The `proteins` name of the same receptor, by Chai-1.")
    pose_rmsd_a: float = Field(
        POSE_RMSD_THRESHOLD_A,
        gt=0,
        le=20,
        description="`agree`'s bound on the ligand pose RMSD between the two engines' top "
        "structures, in Å (2.0: PoseBusters' redock criterion, docs/engines.md).",
    )
    min_boltz2_confidence: float = Field(
        0.0,
        ge=0,
        le=1,
        description="`agree` also needs Boltz-2's `confidence_score` at least this (0: no gate).",
    )
    min_chai1_confidence: float = Field(
        0.0,
        ge=0,
        le=1,
        description="`agree` also needs Chai-1's `aggregate_score` at least this (0: no gate).",
    )


class Model(_Strict):
    """Prediction parameters (Boltz-2's, and the ones Chai-1 shares). Each is part of the cache
    key where it can change the prediction (docs/how-a-screen-runs.md, "What the key
    contains")."""

    engine: Literal["boltz2", "chai1"] = Field(
        "boltz2",
        description="The model that predicts: `boltz2`, or `chai1` (chai-lab 0.6.1 in its own "
        "environment, `make chai1`; docs/engines.md). With `chai1`, `recycling_steps`, "
        "`sampling_steps`, `diffusion_samples` and `seed` are Chai-1's trunk recycles, "
        "diffusion steps, diffusion samples and seed; it predicts no affinity (`affinity` "
        "defaults to false and may not be true) and ranks by its `aggregate_score`.",
    )
    recycling_steps: int = Field(
        3, ge=0, le=20, description="`--recycling_steps` (each is another pass of the trunk)"
    )
    sampling_steps: int = Field(
        200, ge=1, le=1000, description="`--sampling_steps` (time grows with each)"
    )
    diffusion_samples: int = Field(
        1,
        ge=1,
        le=50,
        description="`--diffusion_samples` (the best-ranked sample is reported; each is "
        "another diffusion run)",
    )
    step_scale: float | None = Field(
        None,
        gt=0,
        le=10,
        description="`--step_scale`; null: Boltz's default (1.5). Boltz recommends 1 to 2 "
        "(lower: more diverse samples); at most 10.",
    )
    max_parallel_samples: int = Field(
        5,
        ge=1,
        le=50,
        description="`--max_parallel_samples`: how many diffusion samples one forward pass "
        "denoises (memory); not in the cache key. At most 50, the most diffusion samples.",
    )
    affinity: bool = Field(True, description="Adds the affinity property for the ligand.")
    sampling_steps_affinity: int = Field(
        200,
        ge=1,
        le=1000,
        description="`--sampling_steps_affinity` (with `affinity` only; time grows with each)",
    )
    diffusion_samples_affinity: int = Field(
        5,
        ge=1,
        le=50,
        description="`--diffusion_samples_affinity` (with `affinity` only; each is another run)",
    )
    affinity_mw_correction: bool = Field(
        False, description="`--affinity_mw_correction` (with `affinity` only)"
    )
    use_potentials: bool = Field(False, description="`--use_potentials` (inference-time steering)")
    seed: int | None = Field(
        0,
        ge=0,
        le=MAX_SEED,
        description="`--seed`; each target is seeded from it and its own key, so its result "
        "does not depend on its shard (docs/how-a-screen-runs.md, Reproducibility). "
        "null: unseeded. 0 to 2**32 - 1, the seeds Boltz can use (Lightning seeds 0 instead "
        "of any other).",
    )
    replicates: int = Field(
        1,
        ge=1,
        le=MAX_REPLICATES,
        description="Predictions of each target, with the seeds `seed`, `seed + 1`, ...; each "
        "replicate is keyed (and cached) as the prediction with its own seed. "
        "batch_results.csv reports the mean of the replicates and the spread (`*_std`, "
        "`replicates`); ranking uses the mean (docs/how-a-screen-runs.md, Replicates). "
        "Needs a `seed`.",
    )

    use_esm_embeddings: bool = Field(
        True,
        description="Chai-1 only: ESM-2 embeddings of the protein chains (chai-lab's "
        "`use_esm_embeddings`; the ESM-2 3B weights among the downloads). Part of a Chai-1 "
        "target's key.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_affinity_by_default_for_chai1(cls, raw: object) -> object:
        # Chai-1 has no affinity head: a Chai-1 screen leaves `affinity` unset and gets none.
        if isinstance(raw, dict) and raw.get("engine") == "chai1" and "affinity" not in raw:
            return {**raw, "affinity": False}
        return raw

    @model_validator(mode="after")
    def _replicates_need_a_seed(self) -> Model:
        if self.replicates > 1 and self.seed is None:
            raise ValueError(
                f"`replicates: {self.replicates}` predicts each target with the seeds `seed`, "
                "`seed + 1`, ...: set `seed` (e.g. 0) instead of null"
            )
        if self.seed is not None and self.seed + self.replicates - 1 > MAX_SEED:
            raise ValueError(
                f"`replicates: {self.replicates}` seeds up to `seed + {self.replicates - 1}`, "
                f"more than {MAX_SEED} (2**32 - 1), the largest seed Boltz can use: lower `seed`"
            )
        return self


class Runtime(_Strict):
    """Where and how Boltz runs. Only `precision` and the checkpoints' content (and, through
    the MSA's content, the MSA server settings) change the numbers beyond a GPU's run-to-run
    floating-point noise, so only those enter the cache key."""

    accelerator: Literal["auto", "gpu", "cpu"] = Field(
        "auto", description="`auto` (GPU if torch sees one), `gpu` or `cpu`."
    )
    devices: int = Field(
        1,
        ge=1,
        le=16,
        description="GPUs per shard job: at most 16, the most one machine has (Boltz runs a "
        "shard on one machine).",
    )
    precision: Literal["default", "32"] = Field(
        "default",
        description='`default` is Boltz\'s bf16-mixed. `"32"` runs fp32: use it on CPUs, '
        "where bf16 autocast is slow. Part of the cache key.",
    )
    cache: str = Field(
        "~/.boltz",
        description="Boltz's cache (weights, molecule files); a local run downloads what is "
        "missing of the released files here once, before its first shard, and checks them "
        "(docs/how-a-screen-runs.md, Weights).",
    )
    checkpoint: str | None = Field(
        None,
        description="A custom structure checkpoint (default: `boltz2_conf.ckpt` in the cache). "
        "Keyed by its sha256; flagged `released_weights: false` unless that is the released "
        "file's.",
    )
    affinity_checkpoint: str | None = Field(
        None,
        description="A custom affinity checkpoint (default: `boltz2_aff.ckpt` in the cache). "
        "Keyed by its sha256 when affinity is on; flagged `released_weights: false` unless "
        "that is the released file's.",
    )
    num_workers: int = Field(
        2,
        ge=0,
        le=64,
        description="Boltz data-loader workers: processes that featurise inputs; at most 64 "
        "(more than a machine's cores only costs memory).",
    )
    use_kernels: bool = Field(True, description="false adds `--no_kernels`.")
    deterministic: bool = Field(
        False,
        description="Deterministic GPU runs: torch's deterministic algorithms (warning about "
        "any operation that has none), CUBLAS_WORKSPACE_CONFIG=:4096:8 and no cuequivariance "
        "kernels in either stage. Slower on GPUs; no effect on CPU results. Not in the cache "
        "key (see docs/how-a-screen-runs.md, Reproducibility).",
    )
    msa_server_url: str = Field(MSA_SERVER_URL, description="The MSA server, for `msa: server`.")
    msa_pairing_strategy: Literal["greedy", "complete"] = Field(
        "greedy", description="Boltz's `--msa_pairing_strategy`, for `msa: server`."
    )
    msa_timeout_s: float = Field(
        MSA_TIMEOUT_S,
        gt=0,
        le=86_400,
        description="How long fetch_msa may take for one protein's server MSA, the server's "
        "queue and every retry included: Boltz's client retries a request that gets no answer "
        "and waits out rate limits; after any other error the query is asked again, 5 s, 10 "
        "s, 20 s, ... later (at most 5 min). Then that protein fails, naming the server's last "
        "error, and the other proteins go on (docs/reliability.md, MSA server faults). At most a "
        "day (86,400 s).",
    )
    msa_refresh: bool = Field(
        False,
        description="Ask the MSA server again instead of reusing the MSA the result store "
        "holds for the same sequence, server and pairing strategy; the new MSA replaces it "
        "there. Targets whose MSA content changes get new keys.",
    )
    retry_failed: bool = Field(
        False,
        description="Predict again the targets whose prediction failed permanently (Boltz "
        "raised on the input), which the store records and every run otherwise skips "
        "(docs/reliability.md, 'A ligand Boltz cannot process'); "
        "`--config runtime='{retry_failed: true}'`.",
    )

    chai1_python: str | None = Field(
        None,
        description="Chai-1 screens: the Python of Chai-1's own environment, which runs "
        "engines/chai1/runner.py. null: $CHAI1_PYTHON (the Chai-1 image sets "
        "/opt/chai1/bin/python), else `.chai1/bin/python` (built by `make chai1`), relative to "
        "the directory Snakemake runs in.",
    )
    chai1_downloads: str | None = Field(
        None,
        description="Chai-1 screens: chai-lab's downloads folder (the six model components, "
        "the conformer cache and, with ESM embeddings, ESM-2), as chai-lab's "
        "CHAI_DOWNLOADS_DIR. null: $CHAI_DOWNLOADS_DIR. Nothing is downloaded mid-screen: a "
        "missing file stops the plan with its URL (docs/engines.md, Weights).",
    )

    @property
    def molecule_cache(self) -> Path:
        """Boltz's molecule cache (`cache`/mols: CCD molecules), which may be absent here."""
        return molecules_directory(self.cache)

    @field_validator(
        "cache", "checkpoint", "affinity_checkpoint", "chai1_python", "chai1_downloads"
    )
    @classmethod
    def _usable_path(cls, path: str | None) -> str | None:
        if path is not None and (problem := path_problem(path)):
            raise ValueError(f"'{path}' {problem}")
        return path


class Limits(_Strict):
    """Inputs refused at planning, before anything is read or computed."""

    sheet_max_bytes: int = Field(
        256 * 1024**2,
        ge=1,
        le=16 * 1024**3,
        description="Largest ligand sheet, in bytes (default 256 MiB: about 5 million rows of "
        "name and SMILES, whose validation takes about 15 times the file's size in memory). A "
        "larger file is refused by its size, before it is read. At most 16 GiB (which would "
        "need about 240 GB of memory).",
    )
    protein_max_residues: int = Field(
        2000,
        ge=1,
        le=MAX_RESIDUES,
        description="Longest protein sequence. Boltz-2's memory grows with the square of the "
        "residues: about 1,300 fit on a 24 GB GPU (the L4 of the Google Batch profile), about "
        "2,000 on 80 GB (docs/reliability.md). Lower it to your GPU's limit. At most "
        f"{MAX_RESIDUES:,}, 25 times the memory of 2,000 residues: more than any GPU has.",
    )


class Sharding(_Strict):
    shard_size: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Targets per GPU job (one `boltz predict` process, model loaded once). "
        'See "Choosing the shard size" in docs/how-a-screen-runs.md.',
    )
    attempts: int = Field(
        3,
        ge=1,
        le=10,
        description="How often Snakemake may run a shard job whose process failed (a crash, "
        "out of host memory, a lost machine): each attempt gets more memory (`mem_mb` 16,000 "
        "times the attempt) and predicts only the targets not yet in the store. It holds on "
        "Google Batch too (a preempted VM is such a failure); a failure that would repeat "
        "(no GPU, an image that cannot be pulled, no access to the bucket, bad weights) is "
        "never retried there and stops the run (docs/google-batch.md, 'Fail fast').",
    )
    canary: bool = Field(
        True,
        description="With remote jobs (Google Batch): run the first shard that has targets to "
        "predict alone first, and submit the others only once it succeeded, with the cost "
        "estimated again from what it measured (docs/google-batch.md, 'The canary'). Off, "
        "every shard starts at once: a setup mistake then fails every shard, each on a VM "
        "of its own. No effect on local runs.",
    )


class Report(_Strict):
    top_n: int = Field(
        20, ge=1, le=10_000, description="Length of the top-hit lists in `summary.json`."
    )
    rank_by: Literal["binder_probability", "affinity", "confidence"] = Field(
        "binder_probability",
        description="The `rank` of batch_results.csv, the dashboard's order and its top hits "
        "(docs/results.md, Ranking). `binder_probability`: Boltz's documented score for hit "
        "discovery "
        "(binders vs. decoys). `affinity`: predicted binders by `affinity_pred_value`, which "
        "Boltz documents for comparing actives only, then the rest by binder probability. "
        "`confidence`: the structure's `confidence_score`. Without affinity "
        "(`model.affinity: false`) screens are ranked by `confidence`.",
    )
    binder_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A completed target with `affinity_probability_binary` at or above this "
        "is a predicted binder: affinity statistics, `top_by_affinity`, the affinity plots and "
        "`rank_by: affinity` cover only these. 0.5: the probability at which Boltz's binder "
        "classifier calls binder the more likely class (docs/results.md, Reading the summary).",
    )


# A triage rule's required interaction: `CHAIN:RESIDUE TYPE` (`A:MET318 hbond`; `A:MET318:hbond`
# too, the `interactions` column's own form), or `CHAIN:RESIDUE` for any contact.
INTERACTION_RULE_PATTERN = re.compile(
    r"^([A-Za-z0-9]{1,4}):([A-Za-z]{1,3}-?\d+[A-Za-z]?)(?:[ :]+([\w-]+))?$"
)


class InteractionRule(_Strict):
    """A required interaction, parsed from its text (`A:MET318 hbond`)."""

    chain: str
    residue: str  # residue name and number (as the `interactions` column numbers it): MET318
    kind: str | None  # None: any interaction; else a type or its prefix (`hbond`)

    def __str__(self) -> str:
        return f"{self.chain}:{self.residue}" + (f" {self.kind}" if self.kind else "")


def parse_interaction_rule(text: str) -> InteractionRule:
    """`A:MET318 hbond` as an InteractionRule; ValueError saying the form otherwise."""
    match = INTERACTION_RULE_PATTERN.match(text.strip())
    if match is None:
        raise ValueError(
            f"'{text}' is no interaction rule: write CHAIN:RESIDUE TYPE, e.g. 'A:MET318 hbond' "
            "(the residue numbered as the protein's residue_numbering, else 1 along the "
            "sequence), or CHAIN:RESIDUE for any contact"
        )
    chain, residue, kind = match.groups()
    return InteractionRule(chain=chain, residue=residue.upper(), kind=kind and kind.lower())


class Triage(_Strict):
    """Rules a chemist applies before buying a compound (docs/results.md, "Triage"). They add
    batch_results.csv's `triage` column (`pass`, or the rules a row fails) and
    `purchase_list.csv`; no row is ever dropped, and no key depends on them."""

    require_interactions: list[str] = Field(
        [],
        description="Interactions the pose must make, each `CHAIN:RESIDUE TYPE` (e.g. "
        "`A:MET318 hbond`, the hinge; numbered as the `interactions` column: in the "
        "protein's `residue_numbering`, else from 1 along the sequence): a type matches itself and "
        "its directed forms (`hbond` matches `hbond-donor`); `CHAIN:RESIDUE` alone matches "
        "any interaction with it. Evaluated on the `interactions` column.",
    )
    require_posebusters: bool = Field(
        False, description="The pose must pass PoseBusters' checks (`posebusters_pass`)."
    )
    exclude_alerts: list[Literal[(*ALERT_SETS, *ALERT_FAMILIES)]] = Field(  # type: ignore[misc]
        [],
        description="Structural alert sets a compound must not match (`alerts` column): "
        "`PAINS` (A, B and C), `PAINS_A`, `PAINS_B`, `PAINS_C`, `Brenk`, `NIH`.",
    )
    properties: dict[str, tuple[float | None, float | None]] = Field(
        {},
        description="Property windows `[min, max]` (inclusive; `null`: no bound), by "
        f"property: {', '.join(PROPERTY_COLUMNS)} (case does not matter: `MW`, `cLogP`), "
        "e.g. `{MW: [null, 500], cLogP: [null, 5]}`.",
    )
    rank_within: Literal["all", "triage"] = Field(
        "all",
        description="`triage`: each protein's ranking, top hits and purchase list put the "
        "completed targets that pass triage first, then the other completed ones; `all`: "
        "triage changes no rank.",
    )
    purchase_top_k: int = Field(
        20,
        ge=1,
        le=1_000_000,
        description="`purchase_list.csv` lists the best this many completed targets per "
        "protein that pass triage.",
    )

    @field_validator("require_interactions")
    @classmethod
    def _interaction_rules(cls, rules: list[str]) -> list[str]:
        problems = []
        for index, rule in enumerate(rules):
            try:
                parse_interaction_rule(rule)
            except ValueError as error:
                problems.append((f"[{index}]", str(error)))
        if problems:
            raise KeyedProblems(problems)
        return rules

    @field_validator("properties")
    @classmethod
    def _property_windows(cls, windows: dict) -> dict:
        problems, named = [], {}
        for name, (low, high) in windows.items():
            column = name.lower()
            if column not in PROPERTY_COLUMNS:
                problems.append(
                    (name, f"no such property; use one of {', '.join(PROPERTY_COLUMNS)}")
                )
            elif low is not None and high is not None and low > high:
                problems.append((name, f"the window [{low}, {high}] is empty: write [min, max]"))
            elif column in named:
                problems.append((name, f"'{column}' has two windows; keep one"))
            named[column] = (low, high)
        if problems:
            raise KeyedProblems(problems)
        return named

    @property
    def interaction_rules(self) -> list[InteractionRule]:
        return [parse_interaction_rule(rule) for rule in self.require_interactions]

    @property
    def excluded_alert_sets(self) -> list[str]:
        """The alert sets excluded, families (`PAINS`) spelled out, in ALERT_SETS order."""
        named = {s for name in self.exclude_alerts for s in ALERT_FAMILIES.get(name, (name,))}
        return [name for name in ALERT_SETS if name in named]


class Cost(_Strict):
    """What a screen's GPU time costs: `omtx-hub estimate` before a run, the budget check at
    its start, and `summary.json` after it. Defaults: a Spot g2-standard-8 (one L4) and
    Boltz-2 with affinity on an L4; docs/google-batch.md gives their sources."""

    gpu_hourly_usd: float = Field(
        0.33,
        gt=0,
        le=1000,
        description="Price of one GPU VM per hour, in USD (Spot `g2-standard-8` with one L4); "
        "at most 1,000 (eight H100s on demand cost about 100).",
    )
    seconds_per_target: float = Field(
        30.0,
        gt=0,
        le=86_400,
        description="GPU seconds per predicted target (of an engine not in "
        "`engine_seconds_per_target`); after a screen, use `summary.json` → "
        "`gpu.seconds_per_computed_target` (`..._by_engine` in a screen of two). At most a day.",
    )
    engine_seconds_per_target: dict[
        Literal["boltz2", "chai1"], Annotated[float, Field(gt=0, le=86_400)]
    ] = Field(
        {},
        description="GPU seconds per predicted target of one engine, where it differs from "
        "`seconds_per_target` (`{chai1: 60}`): each shard is estimated at its protein's "
        "engine's. {}: `seconds_per_target` for every engine.",
    )
    startup_s_per_shard: float = Field(
        600.0,
        ge=0,
        le=86_400,
        description="Billed seconds per shard job besides predictions (VM boot, GPU driver, "
        "image pull, model load; derived in docs/google-batch.md, measured by "
        "`scripts/gcp_smoke_test.sh`). At most a day.",
    )
    budget_usd: float | None = Field(
        None,
        gt=0,
        le=10_000_000,
        description="Refuse to start a run whose worst case for the pending work (targets not "
        "yet in the store, every retry of every shard used) exceeds this. null: no limit. At "
        "most 10 million.",
    )
    allow_over_budget: bool = Field(
        False,
        description="Start anyway (`--config cost='{allow_over_budget: true}'`).",
    )

    def seconds_per_target_of(self, engine: str) -> float:
        """The GPU seconds one target of `engine` is estimated at."""
        return self.engine_seconds_per_target.get(engine, self.seconds_per_target)


class ScreenConfig(_Strict):
    """A virtual screen: proteins x a sheet of ligands, predicted by Boltz-2."""

    screen: Screen = Field(description="What the screen is called.")
    proteins: list[Protein] = Field(
        min_length=1, description="Each protein is screened against every ligand."
    )
    ligands: Ligands = Field(
        description="The ligand sheet: `{sheet: path, salts: strip|reject}`, or just the "
        "sheet's path (`ligands: path` means `{sheet: path}`)."
    )
    selectivity: Selectivity | None = Field(
        None,
        description="A selectivity panel, `{target: NAME, anti_targets: [NAME, ...]}` "
        "(protein names): adds `selectivity.csv` and the dashboard's compounds x targets view "
        '(docs/results.md, "Selectivity panels"): binder probability and pIC50, which need '
        "`model.affinity: true`; a binder-sequence screen's binder_iptm. null: none.",
    )
    consensus: list[ConsensusPair] = Field(
        [],
        description="Pairs of `proteins` entries, `{boltz2: NAME, chai1: NAME}`, that screen one "
        "receptor with both engines: each pair's Boltz-2 rows gain the Chai-1 prediction's "
        "scores, the ligand pose RMSD between the two engines' structures and the `agree` "
        'flag (docs/engines.md, "Consensus"). []: none.',
    )
    model: Model = Field(Model(), description="Boltz-2 parameters.")
    runtime: Runtime = Field(Runtime(), description="Where Boltz runs.")
    sharding: Sharding = Field(Sharding(), description="How targets are grouped into GPU jobs.")
    store: str = Field(
        "results/store",
        description="Content-addressed result store: a local directory or gs://bucket/prefix.",
    )
    report: Report = Field(Report(), description="The dashboard and summary.json.")
    cost: Cost = Field(Cost(), description="GPU price, estimate and budget.")
    limits: Limits = Field(Limits(), description="Input sizes refused at planning.")
    triage: Triage | None = Field(
        None,
        description='Triage rules (docs/results.md, "Triage"): the `triage` column, '
        "`rank_within` and `purchase_list.csv`. null: none.",
    )

    @field_validator("ligands", mode="before", json_schema_input_type=Ligands | str)
    @classmethod
    def _sheet_path_alone(cls, ligands: object) -> object:
        return {"sheet": ligands} if isinstance(ligands, str) else ligands

    @field_validator("store")
    @classmethod
    def _store_location(cls, store: str) -> str:
        if "://" in store and not store.startswith("gs://"):
            raise ValueError(f"'{store}': the store is a local directory or a gs:// URL")
        if store.startswith("gs://") and len(store.rstrip("/")) <= len("gs://"):
            raise ValueError("a gs:// store needs a bucket name: gs://BUCKET/PREFIX")
        if not store.startswith("gs://") and (problem := path_problem(store)):
            raise ValueError(f"'{store}' {problem}")
        return store

    @property
    def residue_numbering(self) -> dict[str, dict[str, int]]:
        """Protein -> its `residue_numbering`, for the proteins that have one."""
        return {p.name: p.residue_numbering for p in self.proteins if p.residue_numbering}

    def protein(self, name: str) -> Protein:
        """The `proteins` entry called `name`."""
        return next(protein for protein in self.proteins if protein.name == name)

    def engine_of(self, protein: str | Protein) -> str:
        """The engine that predicts a protein's targets: its `engine`, else `model.engine`."""
        entry = self.protein(protein) if isinstance(protein, str) else protein
        return entry.engine or self.model.engine

    @property
    def engines(self) -> set[str]:
        """The engines this screen runs."""
        return {self.engine_of(protein) for protein in self.proteins}

    def model_of(self, protein: str | Protein) -> Model:
        """The `model` settings a protein's targets are predicted with: its engine's
        (`engine_model`)."""
        return self.engine_model(self.engine_of(protein))

    def engine_model(self, engine: str) -> Model:
        """The `model` settings of an engine's targets: the screen's, with that engine; Chai-1
        beside Boltz-2 predicts no affinity (the screen's `affinity` is Boltz-2's,
        docs/engines.md)."""
        if engine == self.model.engine:
            return self.model
        update = {"engine": engine} | ({"affinity": False} if engine == "chai1" else {})
        return self.model.model_copy(update=update)

    @property
    def rank_by(self) -> str:
        """The ranking in force for the screen's Boltz-2 proteins: `report.rank_by`, or
        `confidence` for a screen without affinity (where `report.rank_by` was left at its
        default); a Chai-1 screen's by its `aggregate_score` (`rank_by_of` for one protein)."""
        return self.engine_rank_by(self.model.engine)

    def rank_by_of(self, protein: str | Protein) -> str:
        """The ranking of a protein's targets: its engine's (`engine_rank_by`)."""
        return self.engine_rank_by(self.engine_of(protein))

    def engine_rank_by(self, engine: str) -> str:
        """The ranking of an engine's targets: Chai-1's by its `aggregate_score`, Boltz-2's
        by `report.rank_by`, or `confidence` without affinity."""
        if engine == "chai1":
            return "aggregate_score"
        return self.report.rank_by if self.model.affinity else "confidence"

    @model_validator(mode="after")
    def _what_chai1_cannot_do(self) -> ScreenConfig:
        """What the Chai-1 engine of this project does not take, refused before any GPU time
        (docs/engines.md, "What a Chai-1 screen cannot do yet"). The `model` settings only
        Boltz-2 has are refused where no protein runs Boltz-2; in a screen of both engines
        they are Boltz-2's."""
        if "chai1" not in self.engines:
            return self
        problems = []
        if self.engines == {"chai1"}:
            problems += [
                (f"model.{name}", f"{why} (model.engine: chai1)")
                for name, why in chai1_refusals(self.model).items()
            ]
            if "rank_by" in self.report.model_fields_set:
                problems.append(
                    (
                        "report.rank_by",
                        "a Chai-1 screen is ranked by Chai-1's aggregate_score; "
                        "leave report.rank_by unset (model.engine: chai1)",
                    )
                )
        for index, protein in enumerate(self.proteins):
            if self.engine_of(protein) != "chai1":
                continue
            setting = f"proteins[{index}].engine" if protein.engine else "model.engine"
            for key, why in chai1_receptor_refusals(protein).items():
                problems.append((f"proteins[{index}].{key}", f"{why} ({setting}: chai1)"))
        if problems:
            raise KeyedProblems(problems)
        return self

    @model_validator(mode="after")
    def _consensus_of_one_receptor(self) -> ScreenConfig:
        """Each `consensus` pair names a Boltz-2 protein and a Chai-1 protein of this screen,
        each in one pair, whose polymer chains are the same (type, sequence, copies, in
        order: the pose comparison matches them so, omtx_hub.consensus)."""
        names = {protein.name: protein for protein in self.proteins}
        problems: list[tuple[str, str]] = []
        paired: set[str] = set()
        for index, pair in enumerate(self.consensus):
            for engine in ("boltz2", "chai1"):
                where, name = f"consensus[{index}].{engine}", getattr(pair, engine)
                if name not in names:
                    known = ", ".join(names)
                    problems.append((where, f"'{name}' is not a protein of this screen ({known})"))
                elif self.engine_of(name) != engine:
                    problems.append(
                        (where, f"protein '{name}' runs {self.engine_of(name)}: set its `engine`")
                    )
                elif name in paired:
                    problems.append((where, f"protein '{name}' is in another consensus pair"))
                paired.add(name)
            if problems or pair.boltz2 not in names or pair.chai1 not in names:
                continue
            boltz, chai = names[pair.boltz2].receptor, names[pair.chai1].receptor
            if _polymers(boltz) != _polymers(chai):
                problems.append(
                    (
                        f"consensus[{index}]",
                        f"proteins '{pair.boltz2}' and '{pair.chai1}' are not the same receptor: "
                        "give both the same chains (type, sequence and copies, in the same "
                        "order); their MSA settings may differ",
                    )
                )
        if problems:
            raise KeyedProblems(problems)
        return self

    @model_validator(mode="after")
    def _ranking_needs_affinity(self) -> ScreenConfig:
        chosen = "rank_by" in self.report.model_fields_set
        if chosen and not self.model.affinity and self.report.rank_by != "confidence":
            raise ValueError(
                f"report.rank_by: '{self.report.rank_by}' needs model.affinity: true "
                "(without it Boltz predicts no affinity or binder probability); use "
                "'confidence' or leave report.rank_by unset"
            )
        return self

    @model_validator(mode="after")
    def _copies_without_affinity(self) -> ScreenConfig:
        problems = [
            (
                f"proteins[{index}].ligand_copies",
                f"{protein.ligand_copies} copies of the screened molecule need model.affinity: "
                'false: Boltz refuses affinity for a ligand with several copies ("Cannot '
                'compute affinity for a ligand that has multiple copies!", parse_boltz_schema)',
            )
            for index, protein in enumerate(self.proteins)
            if protein.ligand_copies > 1 and self.model.affinity
        ]
        if problems:
            raise KeyedProblems(problems)
        return self

    @model_validator(mode="after")
    def _unique_protein_names(self) -> ScreenConfig:
        seen: set[str] = set()
        for protein in self.proteins:
            if protein.name in seen:
                raise ValueError(f"protein name '{protein.name}' is used twice")
            seen.add(protein.name)
        return self

    @model_validator(mode="after")
    def _panel_of_screened_targets(self) -> ScreenConfig:
        panel = self.selectivity
        if panel is None:
            return self
        names = [protein.name for protein in self.proteins]
        listed = [("selectivity.target", panel.target)]
        listed += [(f"selectivity.anti_targets[{i}]", n) for i, n in enumerate(panel.anti_targets)]
        problems = [
            (where, f"'{name}' is not a protein of this screen (proteins: {', '.join(names)})")
            for where, name in listed
            if name not in names
        ]
        # That a molecule screen's panel has the affinity it compares is checked with the
        # sheet, which says what the screen screens (omtx_hub.plan.check_panel_scores).
        if problems:
            raise KeyedProblems(problems)
        return self

    @model_validator(mode="after")
    def _proteins_within_limit(self) -> ScreenConfig:
        limit = self.limits.protein_max_residues
        for index, protein in enumerate(self.proteins):
            residues = protein.receptor.residue_count
            if residues > limit:
                where = "sequence" if protein.sequence is not None else "chains"
                raise ValueError(
                    f"config key 'proteins[{index}].{where}': protein '{protein.name}' has "
                    f"{residues:,} residues, more than limits.protein_max_residues "
                    f"({limit:,}), counting every chain and copy: Boltz-2's GPU memory grows "
                    "with the square of the length (about 1,300 residues fit 24 GB, 2,000 fit "
                    "80 GB). Predict a domain, or raise the limit if your GPU has the memory"
                )
        return self


def _format_location(location: tuple[str | int, ...]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def _describe(error: dict) -> list[str]:
    raised = (error.get("ctx") or {}).get("error")
    if isinstance(raised, KeyedProblems):
        parent = _format_location(error["loc"])
        prefix = "" if parent == "(top level)" else parent + "."
        return [keyed_message(f"{prefix}{where}", message) for where, message in raised.problems]
    return [_describe_one(error)]


# What a value matching each pattern is, for the message of a value that does not.
_PATTERN_MEANINGS = {
    SAFE_NAME_PATTERN: "must be 1-64 letters, digits, '_' or '-' starting with a letter or digit "
    "(it is used in file names)",
    CHAIN_ID_PATTERN: "is not a chain id: a chain id is 1-4 letters or digits (A, B, H1)",
}


def _without_union_members(errors: list[dict]) -> list[dict]:
    """The errors as a user reads them: union members dropped from each location, and where a
    value matched no member of a union, only the errors of the member of its kind (`'A/B'`
    is not a chain id; not also 'Input should be a valid list'), or one error listing every
    kind the value could have been."""
    located: dict[tuple, list[dict]] = {}
    for error in errors:
        location = error["loc"]
        kept = location[-1:] if error["type"] == "extra_forbidden" else ()
        searched = location[: len(location) - len(kept)]
        if error["type"] != "extra_forbidden" and "[key]" in searched:
            searched = searched[: searched.index("[key]") - 1]  # the key is in the message
        cleaned = tuple(
            part for part in searched if not (isinstance(part, str) and _is_member(part))
        )
        located.setdefault(cleaned + kept, []).append({**error, "loc": cleaned + kept})
    described = []
    for location, found in located.items():
        deeper = any(other[: len(location)] == location and other != location for other in located)
        wrong_kind = [error for error in found if error["type"].endswith("_type")]
        others = [error for error in found if not error["type"].endswith("_type")]
        if others or deeper:
            described += others
        elif len(wrong_kind) > 1:
            kinds = [error["msg"].removeprefix("Input should be ") for error in wrong_kind]
            described.append({**wrong_kind[0], "msg": "Input should be " + " or ".join(kinds)})
        else:
            described += wrong_kind
    return described


def _is_member(part: str) -> bool:
    """Whether a part of an error's location names a member of a union, as pydantic does
    for `ChainId | list[ChainId]`: 'constrained-str', 'list[constrained-str]',
    'dict[constrained-str,str]' (and '[key]', a mapping's key, handled by the caller)."""
    return "[" in part or part == "constrained-str" or part.startswith("function-")


def _describe_one(error: dict) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:
        return message  # a check across keys names them itself
    key = _format_location(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"config key '{key}': unknown key; check its spelling against config/README.md"
    if kind == "missing":
        return f"config key '{key}': required but missing"
    if kind == "string_pattern_mismatch" and error["ctx"]["pattern"] in _PATTERN_MEANINGS:
        return (
            f"config key '{key}': {error['input']!r} {_PATTERN_MEANINGS[error['ctx']['pattern']]}"
        )
    return f"config key '{key}': {message}"


# URL query parameters that carry a credential: names like CREDENTIAL_KEY, and the bare
# `key`/`sig` of API keys and signed URLs (`?key=...`, `X-Goog-Signature=...`).
_CREDENTIAL_QUERY = re.compile(
    rf"{CREDENTIAL_KEY.pattern}|(?:^|[_.-])(?:key|sig|signature)$", re.IGNORECASE
)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def _url_credential(text: str) -> str | None:
    """What makes a URL in `text` carry a credential, if one does."""
    for url in _URL.findall(text):
        try:
            parts = urlsplit(url)
            userinfo = parts.username is not None or parts.password is not None
        except ValueError:
            continue
        if userinfo:
            return "holds a URL with a user name or password in it"
        if any(_CREDENTIAL_QUERY.search(name) for name, _ in parse_qsl(parts.query)):
            return "holds a URL with a token or key in its query"
    return None


def credential_problems(raw: object) -> dict[tuple, str]:
    """Keys of the config mapping `raw` that look like credentials, and values with a URL that
    carries one: a message for each, by location. The messages never repeat the value."""
    return {
        where: f"config key '{_format_location(where)}' {what}; config files and --config "
        "values are copied into Snakemake's metadata, the results and the sources a Google "
        "Batch run uploads, so credentials come only from environment variables "
        f"({', '.join(MSA_CREDENTIAL_VARIABLES)}: config/README.md, 'Credentials'). Remove it"
        for where, what in _credential_locations(raw).items()
    }


def _credential_locations(raw: object) -> dict[tuple, str]:
    """Depth first, in the config's order, without recursion; a list or mapping that YAML
    aliases at several places is looked at once (at its first place), so the scan is linear
    in the config as written, however its aliases would expand."""
    found: dict[tuple, str] = {}
    seen: set[int] = set()
    pending: list[tuple[object, tuple[str | int, ...]]] = [(raw, ())]
    while pending:
        value, location = pending.pop()
        if isinstance(value, Mapping | list):
            if id(value) in seen:
                continue
            seen.add(id(value))
        children: list[tuple[object, tuple[str | int, ...]]] = []
        if isinstance(value, Mapping):
            for key, child in value.items():
                here = (*location, str(key))
                if CREDENTIAL_KEY.search(str(key)):
                    found[here] = "is named like a credential"
                else:
                    children.append((child, here))
        elif isinstance(value, list):
            children = [(child, (*location, index)) for index, child in enumerate(value)]
        elif isinstance(value, str) and (reason := _url_credential(value)):
            found[location] = reason
        pending += reversed(children)
    return found


def _polymers(receptor: ReceptorSpec) -> list[tuple[str, str, int]]:
    """A receptor's polymer chains as the pose comparison matches them: type, sequence,
    copies."""
    return [(chain.type, chain.sequence, len(chain.ids)) for chain in receptor.chains]


def chai1_refusals(model: Model) -> dict[str, str]:
    """The `model` settings the Chai-1 engine cannot honour: key -> why."""
    problems = {}
    if model.affinity:
        problems["affinity"] = (
            "Chai-1 has no affinity head: set model.affinity: false (or leave it unset), and "
            "use model.engine: boltz2 for affinity and binder probability"
        )
    if model.step_scale is not None:
        problems["step_scale"] = "a Boltz-2 setting Chai-1 has not: leave it unset"
    if model.use_potentials:
        problems["use_potentials"] = "a Boltz-2 setting Chai-1 has not: leave it false"
    return problems


def chai1_receptor_refusals(protein: Protein) -> dict[str, str]:
    """What of a protein entry the Chai-1 runner (engines/chai1/runner.py) does not take yet:
    key (below the entry) -> why. It runs chains by sequence, single-sequence with ESM
    embeddings, and one screened ligand."""
    problems = {}
    for key in ("pocket", "covalent"):
        if getattr(protein, key) is not None:
            problems[key] = "restraints and covalent bonds are not passed to Chai-1 yet"
    for key in ("contacts", "templates", "cofactors"):
        if getattr(protein, key):
            problems[key] = f"{key} are not passed to Chai-1 yet"
    if protein.ligand_copies != 1:
        problems["ligand_copies"] = "Chai-1 screens model one copy of the ligand"
    for chain in protein.receptor.chains:
        where = "msa" if protein.sequence is not None else "chains"
        if chain.msa not in (None, "empty"):
            problems[where] = (
                f"chain {chain.ids[0]}: Chai-1 runs single-sequence (with ESM embeddings, "
                "model.use_esm_embeddings) in this project: set msa: empty"
            )
        if chain.modifications or chain.cyclic:
            problems["chains"] = (
                f"chain {chain.ids[0]}: modified residues and cyclic chains are not passed to "
                "Chai-1 yet"
            )
    return problems


def load_config(raw: dict) -> ScreenConfig:
    """Validate a config mapping as Snakemake loads it; raise ConfigError listing all problems.
    Reads no file: what the config names on disk is checked by omtx_hub.preflight."""
    leaked = credential_problems(raw)
    try:
        config = ScreenConfig.model_validate(raw)
        errors = []
    except ValidationError as error:
        # Other messages about a leaked credential's key could repeat its value.
        errors = _without_union_members(
            [e for e in error.errors() if not _under_any(tuple(e["loc"]), leaked)]
        )
    problems = [*leaked.values(), *(line for e in errors for line in _describe(e))]
    if problems:
        raise invalid_config(problems) from None
    return config


def invalid_config(problems: list[str]) -> ConfigError:
    """The error listing every problem found in a config."""
    return ConfigError("Invalid screen configuration:\n  - " + "\n  - ".join(problems))


def keyed_message(location: str, message: str) -> str:
    """A problem of the config key at `location` ('proteins[0].msa'), as every check words it."""
    return f"config key '{location}': {message}"


def _under_any(location: tuple, prefixes) -> bool:
    return any(location[: len(prefix)] == prefix for prefix in prefixes)


def receptor_warnings(config: ScreenConfig) -> list[str]:
    """What the receptors hold that is accepted but may not be meant (a protein chain that
    looks like DNA or RNA), worded as the config's problems are; the run logs each when it
    plans."""
    return [
        keyed_message(
            f"proteins[{index}]." + ("sequence" if protein.sequence is not None else where),
            message,
        )
        for index, protein in enumerate(config.proteins)
        for where, message in protein.receptor.warnings()
    ]
