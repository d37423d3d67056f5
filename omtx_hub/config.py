"""The screen configuration: pydantic models and friendly validation errors.

Every key a user can write is declared here; unknown keys are rejected so that a typo
(`samping_steps`) fails the plan instead of silently using a default. `config/README.md`
documents each key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
SafeName = Annotated[str, StringConstraints(pattern=SAFE_NAME_PATTERN)]

# The 20 standard amino acids plus the ambiguity/rare codes Boltz maps to tokens (X = unknown).
PROTEIN_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWYXUOBZJ")

MSA_SERVER_URL = "https://api.colabfold.com"
# The Snakefile's own `configfile:`, relative to the directory snakemake runs in.
WORKFLOW_CONFIG = Path("config/config.yaml")


class ConfigError(ValueError):
    """A configuration problem, worded for the person who edits the config file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Screen(_Strict):
    name: SafeName = Field(
        description="1-64 letters, digits, `_`, `-`. Results go to `results/<name>/`; "
        "structure files are named `<name>_<protein>_<index>_<ligand>.cif`."
    )
    description: str = Field("", description="Free text, shown in the summary.")


class Protein(_Strict):
    name: SafeName = Field(description="Same rules as `screen.name`; unique.")
    sequence: str = Field(
        description="One-letter amino-acid codes; whitespace and line breaks are removed, "
        "lower case is accepted. Anything else is rejected with its position."
    )
    msa: str = Field(
        default="server",
        description="`server` (default, as Boltz recommends): the ColabFold MMseqs2 server "
        "(`runtime.msa_server_url`) is asked **once per protein**; the MSA is kept in the "
        "result store and reused by every ligand and every later screen. A path to an `.a3m` "
        "or Boltz `.csv` MSA file whose first sequence is this protein's (checked at "
        "planning). `empty`: single-sequence mode, which Boltz calls not recommended (reduced "
        "accuracy); its results are flagged `no-msa`. The MSA's content is part of the "
        "cache key.",
    )

    @field_validator("sequence")
    @classmethod
    def _protein_letters(cls, sequence: str) -> str:
        cleaned = re.sub(r"\s+", "", sequence).upper()
        if not cleaned:
            raise ValueError("the sequence is empty")
        bad = sorted(set(cleaned) - PROTEIN_LETTERS)
        if bad:
            position = next(i for i, letter in enumerate(cleaned, 1) if letter in bad)
            raise ValueError(
                f"invalid amino-acid letter(s) {', '.join(repr(b) for b in bad)} "
                f"(first at position {position}); use one-letter codes"
            )
        return cleaned

    @field_validator("msa")
    @classmethod
    def _msa_source(cls, msa: str, info: ValidationInfo) -> str:
        if msa in ("empty", "server"):
            return msa
        path = Path(msa)
        if path.suffix not in (".a3m", ".csv"):
            raise ValueError(f"'{msa}' is neither 'empty', 'server' nor an .a3m/.csv file")
        if not path.is_file():
            raise ValueError(f"MSA file '{msa}' does not exist")
        if "sequence" in info.data:  # (a bad sequence is reported on its own)
            from omtx_hub.msa import check_msa_file

            check_msa_file(path, info.data["sequence"], info.data.get("name", "?"))
        return msa


class Model(_Strict):
    """Boltz-2 prediction parameters. Each is part of the cache key where it can change the
    prediction (README, "What the key contains")."""

    recycling_steps: int = Field(3, ge=0, le=20, description="`--recycling_steps`")
    sampling_steps: int = Field(200, ge=1, le=1000, description="`--sampling_steps`")
    diffusion_samples: int = Field(
        1,
        ge=1,
        le=50,
        description="`--diffusion_samples` (the best-ranked sample is reported)",
    )
    step_scale: float | None = Field(
        None, gt=0, description="`--step_scale`; null: Boltz's default (1.5)"
    )
    max_parallel_samples: int = Field(
        5,
        ge=1,
        description="`--max_parallel_samples`: how many diffusion samples one forward pass "
        "denoises (memory); not in the cache key.",
    )
    affinity: bool = Field(True, description="Adds the affinity property for the ligand.")
    sampling_steps_affinity: int = Field(
        200, ge=1, le=1000, description="`--sampling_steps_affinity` (with `affinity` only)"
    )
    diffusion_samples_affinity: int = Field(
        5, ge=1, le=50, description="`--diffusion_samples_affinity` (with `affinity` only)"
    )
    affinity_mw_correction: bool = Field(
        False, description="`--affinity_mw_correction` (with `affinity` only)"
    )
    use_potentials: bool = Field(False, description="`--use_potentials` (inference-time steering)")
    seed: int | None = Field(
        0,
        description="`--seed`; each target is seeded from it and its own key, so its result "
        "does not depend on its shard (README, Reproducibility). null: unseeded.",
    )


class Runtime(_Strict):
    """Where and how Boltz runs. Only `precision` and the checkpoints' content (and, through
    the MSA's content, the MSA server settings) change the numbers beyond a GPU's run-to-run
    floating-point noise, so only those enter the cache key."""

    accelerator: Literal["auto", "gpu", "cpu"] = Field(
        "auto", description="`auto` (GPU if torch sees one), `gpu` or `cpu`."
    )
    devices: int = Field(1, ge=1, description="GPUs per shard job.")
    precision: Literal["default", "32"] = Field(
        "default",
        description='`default` is Boltz\'s bf16-mixed. `"32"` runs fp32: use it on CPUs, '
        "where bf16 autocast is slow. Part of the cache key.",
    )
    cache: str = Field(
        "~/.boltz",
        description="Boltz's cache (weights, molecule files); Boltz downloads the released "
        "weights here on first use.",
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
    num_workers: int = Field(2, ge=0, description="Boltz data-loader workers.")
    use_kernels: bool = Field(True, description="false adds `--no_kernels`.")
    deterministic: bool = Field(
        False,
        description="Deterministic GPU runs: torch's deterministic algorithms (warning about "
        "any operation that has none), CUBLAS_WORKSPACE_CONFIG=:4096:8 and no cuequivariance "
        "kernels in either stage. Slower on GPUs; no effect on CPU results. Not in the cache "
        "key (see README, Reproducibility).",
    )
    msa_server_url: str = Field(MSA_SERVER_URL, description="The MSA server, for `msa: server`.")
    msa_pairing_strategy: Literal["greedy", "complete"] = Field(
        "greedy", description="Boltz's `--msa_pairing_strategy`, for `msa: server`."
    )
    msa_refresh: bool = Field(
        False,
        description="Ask the MSA server again instead of reusing the MSA the result store "
        "holds for the same sequence, server and pairing strategy; the new MSA replaces it "
        "there. Targets whose MSA content changes get new keys.",
    )

    @field_validator("checkpoint", "affinity_checkpoint")
    @classmethod
    def _checkpoint_exists(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).expanduser().is_file():
            raise ValueError(f"checkpoint file '{path}' does not exist")
        return path


class Sharding(_Strict):
    shard_size: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Targets per GPU job (one `boltz predict` process, model loaded once). "
        'See "Choosing the shard size" in the README.',
    )


class Report(_Strict):
    top_n: int = Field(
        20, ge=1, le=10_000, description="Length of the top-hit lists in `summary.json`."
    )


class Cost(_Strict):
    """What a screen's GPU time costs: `omtx-hub estimate` before a run, the budget check at
    its start, and `summary.json` after it. Defaults: a Spot g2-standard-8 (one L4) and
    Boltz-2 with affinity on an L4; docs/google-batch.md gives their sources."""

    gpu_hourly_usd: float = Field(
        0.33,
        gt=0,
        description="Price of one GPU VM per hour, in USD (Spot `g2-standard-8` with one L4).",
    )
    seconds_per_target: float = Field(
        30.0,
        gt=0,
        description="GPU seconds per predicted target; after a screen, use `summary.json` → "
        "`gpu.seconds_per_computed_target`.",
    )
    startup_s_per_shard: float = Field(
        600.0,
        ge=0,
        description="Billed seconds per shard job besides predictions (VM boot, GPU driver, "
        "image pull, model load; derived in docs/google-batch.md, measured by "
        "`scripts/gcp_smoke_test.sh`).",
    )
    budget_usd: float | None = Field(
        None,
        gt=0,
        description="Refuse to start a run whose worst case for the pending work (targets not "
        "yet in the store, every retry of every shard used) exceeds this. null: no limit.",
    )
    allow_over_budget: bool = Field(
        False,
        description="Start anyway (`--config cost='{allow_over_budget: true}'`).",
    )


class ScreenConfig(_Strict):
    """A virtual screen: proteins x a sheet of ligands, predicted by Boltz-2."""

    screen: Screen = Field(description="What the screen is called.")
    proteins: list[Protein] = Field(
        min_length=1, description="Each protein is screened against every ligand."
    )
    ligands: str = Field(description="Path to the ligand sheet (CSV or TSV).")
    model: Model = Field(Model(), description="Boltz-2 parameters.")
    runtime: Runtime = Field(Runtime(), description="Where Boltz runs.")
    sharding: Sharding = Field(Sharding(), description="How targets are grouped into GPU jobs.")
    store: str = Field(
        "results/store",
        description="Content-addressed result store: a local directory or gs://bucket/prefix.",
    )
    report: Report = Field(Report(), description="The dashboard and summary.json.")
    cost: Cost = Field(Cost(), description="GPU price, estimate and budget.")

    @field_validator("ligands")
    @classmethod
    def _sheet_exists(cls, path: str, info: ValidationInfo) -> str:
        # Remote jobs read the validated sheet from the result store instead of the file.
        if not (info.context or {}).get("sheet_file_needed", True):
            return path
        if not Path(path).is_file():
            raise ValueError(
                f"ligand sheet '{path}' does not exist (paths are relative to the directory "
                "snakemake runs in)"
            )
        return path

    @field_validator("store")
    @classmethod
    def _store_location(cls, store: str) -> str:
        if "://" in store and not store.startswith("gs://"):
            raise ValueError(f"'{store}': the store is a local directory or a gs:// URL")
        if store.startswith("gs://") and len(store.rstrip("/")) <= len("gs://"):
            raise ValueError("a gs:// store needs a bucket name: gs://BUCKET/PREFIX")
        return store

    @model_validator(mode="after")
    def _unique_protein_names(self) -> ScreenConfig:
        seen: set[str] = set()
        for protein in self.proteins:
            if protein.name in seen:
                raise ValueError(f"protein name '{protein.name}' is used twice")
            seen.add(protein.name)
        return self


def _format_location(location: tuple[str | int, ...]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def _describe(error: dict) -> str:
    key = _format_location(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"config key '{key}': unknown key; check its spelling against config/README.md"
    if kind == "missing":
        return f"config key '{key}': required but missing"
    if kind == "string_pattern_mismatch":
        return (
            f"config key '{key}': {error['input']!r} must be 1-64 letters, digits, '_' or '-' "
            "starting with a letter or digit (it is used in file names)"
        )
    message = error["msg"].removeprefix("Value error, ")
    return f"config key '{key}': {message}"


def merged_config_files(paths: list[str | Path]) -> dict:
    """The config mapping Snakemake builds for `--configfile paths...`: the workflow's
    config/config.yaml (when the working directory has one), then each file merged over it
    in order with Snakemake's own rule (snakemake.utils.update_config: mappings merge key by
    key, anything else is replaced)."""
    import yaml
    from snakemake.utils import update_config

    merged: dict = {}
    base = [WORKFLOW_CONFIG] if WORKFLOW_CONFIG.is_file() else []
    for path in [*base, *paths]:
        update_config(merged, yaml.safe_load(Path(path).read_text()) or {})
    return merged


def load_config(raw: dict, *, sheet_file_needed: bool = True) -> ScreenConfig:
    """Validate a config mapping as Snakemake loads it; raise ConfigError listing all problems.

    `sheet_file_needed=False`: the caller does not read the ligand sheet file (a remote job
    reads the validated sheet from the result store), so it need not exist here."""
    try:
        return ScreenConfig.model_validate(raw, context={"sheet_file_needed": sheet_file_needed})
    except ValidationError as error:
        problems = [_describe(e) for e in error.errors()]
        raise ConfigError("Invalid screen configuration:\n  - " + "\n  - ".join(problems)) from None
