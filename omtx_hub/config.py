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
    field_validator,
    model_validator,
)

SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
SafeName = Annotated[str, StringConstraints(pattern=SAFE_NAME_PATTERN)]

# The 20 standard amino acids plus the ambiguity/rare codes Boltz maps to tokens (X = unknown).
PROTEIN_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWYXUOBZJ")

MSA_SERVER_URL = "https://api.colabfold.com"


class ConfigError(ValueError):
    """A configuration problem, worded for the person who edits the config file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Screen(_Strict):
    name: SafeName = Field(description="Screen name; used in result paths and file names.")
    description: str = ""


class Protein(_Strict):
    name: SafeName
    sequence: str
    msa: str = Field(
        default="empty",
        description="'empty' (single-sequence mode), 'server' (ColabFold MSA server, computed "
        "once per protein) or a path to an .a3m/.csv MSA file.",
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
    def _msa_source(cls, msa: str) -> str:
        if msa in ("empty", "server"):
            return msa
        path = Path(msa)
        if path.suffix not in (".a3m", ".csv"):
            raise ValueError(f"'{msa}' is neither 'empty', 'server' nor an .a3m/.csv file")
        if not path.is_file():
            raise ValueError(f"MSA file '{msa}' does not exist")
        return msa


class Model(_Strict):
    """Boltz-2 prediction parameters. All of them are part of each result's cache key."""

    recycling_steps: int = Field(3, ge=0, le=20)
    sampling_steps: int = Field(200, ge=1, le=1000)
    diffusion_samples: int = Field(1, ge=1, le=50)
    step_scale: float | None = Field(None, gt=0)
    max_parallel_samples: int = Field(5, ge=1)
    affinity: bool = True
    sampling_steps_affinity: int = Field(200, ge=1, le=1000)
    diffusion_samples_affinity: int = Field(5, ge=1, le=50)
    affinity_mw_correction: bool = False
    use_potentials: bool = False
    seed: int | None = 0


class Runtime(_Strict):
    """Where and how Boltz runs. Only `precision` and the checkpoints change the numbers
    beyond a GPU's run-to-run floating-point noise, so only those enter the cache key."""

    accelerator: Literal["auto", "gpu", "cpu"] = Field(
        "auto", description="'auto' uses a GPU when torch sees one, else the CPU."
    )
    devices: int = Field(1, ge=1)
    precision: Literal["default", "32"] = Field(
        "default",
        description="'default' is Boltz's bf16-mixed; '32' runs fp32, several times faster on "
        "CPUs without bf16 units.",
    )
    cache: str = Field(
        "~/.boltz",
        description="Boltz cache directory (weights + molecule files). Boltz downloads the "
        "released weights here on first use.",
    )
    checkpoint: str | None = None
    affinity_checkpoint: str | None = None
    num_workers: int = Field(2, ge=0)
    use_kernels: bool = True
    deterministic: bool = Field(
        False,
        description="Deterministic GPU runs: torch's deterministic algorithms (warning about "
        "any operation that has none), CUBLAS_WORKSPACE_CONFIG=:4096:8 and no cuequivariance "
        "kernels in either stage. Slower on GPUs; no effect on CPU results. Not in the cache "
        "key (see README, Reproducibility).",
    )
    msa_server_url: str = MSA_SERVER_URL
    msa_pairing_strategy: Literal["greedy", "complete"] = "greedy"

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
        description="Ligands per GPU job (one `boltz predict` process, model loaded once).",
    )


class Report(_Strict):
    top_n: int = Field(20, ge=1, le=10_000)


class Cost(_Strict):
    """What a screen's GPU time costs: `omtx-hub estimate` before a run, the budget check at
    its start, and `summary.json` after it. Defaults: a Spot g2-standard-8 (one L4) and
    Boltz-2 with affinity on an L4; docs/google-batch.md gives their sources."""

    gpu_hourly_usd: float = Field(
        0.33, gt=0, description="Price of one GPU VM (machine + GPU) per hour, in USD."
    )
    seconds_per_target: float = Field(
        30.0, gt=0, description="GPU seconds per predicted target (summary.json measures it)."
    )
    startup_s_per_shard: float = Field(
        300.0,
        ge=0,
        description="Billed seconds per shard job outside Boltz's predictions: VM boot, GPU "
        "driver, image pull, model load.",
    )
    budget_usd: float | None = Field(
        None, gt=0, description="Refuse to start a run whose estimate exceeds this; null: none."
    )
    allow_over_budget: bool = Field(
        False, description="Start anyway when the estimate exceeds budget_usd."
    )


class ScreenConfig(_Strict):
    screen: Screen
    proteins: list[Protein] = Field(min_length=1)
    ligands: str = Field(description="Path to the ligand sheet (CSV or TSV).")
    model: Model = Model()
    runtime: Runtime = Runtime()
    sharding: Sharding = Sharding()
    store: str = Field(
        "results/store",
        description="Content-addressed result store: a local directory or gs://bucket/prefix.",
    )
    report: Report = Report()
    cost: Cost = Cost()

    @field_validator("ligands")
    @classmethod
    def _sheet_exists(cls, path: str) -> str:
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


def load_config(raw: dict) -> ScreenConfig:
    """Validate a config mapping as Snakemake loads it; raise ConfigError listing all problems."""
    try:
        return ScreenConfig.model_validate(raw)
    except ValidationError as error:
        problems = [_describe(e) for e in error.errors()]
        raise ConfigError("Invalid screen configuration:\n  - " + "\n  - ".join(problems)) from None
