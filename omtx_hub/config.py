"""The screen configuration: pydantic models and friendly validation errors.

Every key a user can write is declared here; unknown keys are rejected so that a typo
(`samping_steps`) fails the plan instead of silently using a default. `config/README.md`
documents each key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

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

from omtx_hub.credentials import MSA_CREDENTIAL_VARIABLES

SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
SafeName = Annotated[str, StringConstraints(pattern=SAFE_NAME_PATTERN)]

# The 20 standard amino acids plus the ambiguity/rare codes Boltz maps to tokens (X = unknown).
PROTEIN_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWYXUOBZJ")

MSA_SERVER_URL = "https://api.colabfold.com"
# The Snakefile's own `configfile:`, relative to the directory snakemake runs in.
WORKFLOW_CONFIG = Path("config/config.yaml")


class ConfigError(ValueError):
    """A configuration problem, worded for the person who edits the config file."""


# Linux's limits on a file name and on a whole path, in bytes (NAME_MAX, PATH_MAX).
_NAME_MAX, _PATH_MAX = 255, 4096


def _path_problem(text: str) -> str | None:
    """Why `text` cannot name a local path at all, if it cannot (the OS would raise)."""
    if "\x00" in text:
        return "holds a NUL character"
    try:
        path = Path(text).expanduser()
    except RuntimeError:
        return "starts with '~user' for a user this machine does not know"
    if len(os.fsencode(path)) >= _PATH_MAX or any(
        len(os.fsencode(part)) > _NAME_MAX for part in path.parts
    ):
        return f"is longer than file systems allow ({_NAME_MAX} bytes a name, {_PATH_MAX} a path)"
    return None


def _is_file(text: str, *, expand_user: bool = False) -> bool:
    """Whether `text` (with `~` expanded, if asked) names an existing regular file."""
    if _path_problem(text) is not None:
        return False
    path = Path(text).expanduser() if expand_user else Path(text)
    return path.is_file()


def _directory_problem(text: str) -> str | None:
    """Why `text` cannot be a directory this run creates or uses, if it cannot."""
    if problem := _path_problem(text):
        return problem
    path = Path(text).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"cannot be a directory: '{existing}' is a file"
    return None


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
        default="empty",
        description="`empty`: single-sequence mode (fast, less accurate). `server`: the "
        "ColabFold MMseqs2 server (`runtime.msa_server_url`) is asked **once per protein** and "
        "the MSA is reused by every ligand. A path to an `.a3m` or Boltz `.csv` MSA file: used "
        "as is (its content is part of the cache key).",
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
        if not _is_file(msa):
            raise ValueError(f"MSA file '{msa}' does not exist")
        return msa


class Model(_Strict):
    """Boltz-2 prediction parameters. All of them are part of each result's cache key."""

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
    max_parallel_samples: int = Field(5, ge=1, description="`--max_parallel_samples`")
    affinity: bool = Field(True, description="Adds the affinity property for the ligand.")
    sampling_steps_affinity: int = Field(
        200, ge=1, le=1000, description="`--sampling_steps_affinity`"
    )
    diffusion_samples_affinity: int = Field(
        5, ge=1, le=50, description="`--diffusion_samples_affinity`"
    )
    affinity_mw_correction: bool = Field(False, description="`--affinity_mw_correction`")
    use_potentials: bool = Field(False, description="`--use_potentials` (inference-time steering)")
    seed: int | None = Field(
        0,
        description="`--seed`; each target is seeded from it and its own key, so its result "
        "does not depend on its shard (README, Reproducibility). null: unseeded.",
    )


class Runtime(_Strict):
    """Where and how Boltz runs. Only `precision` and the checkpoints change the numbers
    beyond a GPU's run-to-run floating-point noise, so only those enter the cache key."""

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
        description="A custom structure checkpoint. Results are then flagged "
        "`released_weights: false`.",
    )
    affinity_checkpoint: str | None = Field(
        None,
        description="A custom affinity checkpoint. Results are then flagged "
        "`released_weights: false`.",
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

    @field_validator("cache")
    @classmethod
    def _cache_directory(cls, cache: str) -> str:
        if problem := _directory_problem(cache):
            raise ValueError(f"'{cache}' {problem}")
        return cache

    @field_validator("checkpoint", "affinity_checkpoint")
    @classmethod
    def _checkpoint_exists(cls, path: str | None) -> str | None:
        if path is not None and not _is_file(path, expand_user=True):
            raise ValueError(f"checkpoint file '{path}' does not exist")
        return path


class Limits(_Strict):
    """Inputs refused at planning, before anything is read or computed."""

    sheet_max_bytes: int = Field(
        256 * 1024**2,
        ge=1,
        description="Largest ligand sheet, in bytes (default 256 MiB: about 5 million rows of "
        "name and SMILES, whose validation takes about 15 times the file's size in memory). A "
        "larger file is refused by its size, before it is read.",
    )
    protein_max_residues: int = Field(
        2000,
        ge=1,
        description="Longest protein sequence. Boltz-2's memory grows with the square of the "
        "residues: about 1,300 fit on a 24 GB GPU (the L4 of the Google Batch profile), about "
        "2,000 on 80 GB (docs/reliability.md). Lower it to your GPU's limit.",
    )


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
    limits: Limits = Field(Limits(), description="Input sizes refused at planning.")

    @field_validator("ligands")
    @classmethod
    def _sheet_exists(cls, path: str, info: ValidationInfo) -> str:
        # Remote jobs read the validated sheet from the result store instead of the file.
        if not (info.context or {}).get("sheet_file_needed", True):
            return path
        if not _is_file(path):
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
        if not store.startswith("gs://") and (problem := _directory_problem(store)):
            raise ValueError(f"'{store}' {problem}")
        return store

    @model_validator(mode="after")
    def _unique_protein_names(self) -> ScreenConfig:
        seen: set[str] = set()
        for protein in self.proteins:
            if protein.name in seen:
                raise ValueError(f"protein name '{protein.name}' is used twice")
            seen.add(protein.name)
        return self

    @model_validator(mode="after")
    def _proteins_within_limit(self) -> ScreenConfig:
        limit = self.limits.protein_max_residues
        for index, protein in enumerate(self.proteins):
            if len(protein.sequence) > limit:
                raise ValueError(
                    f"config key 'proteins[{index}].sequence': protein '{protein.name}' has "
                    f"{len(protein.sequence):,} residues, more than limits.protein_max_residues "
                    f"({limit:,}): Boltz-2's GPU memory grows with the square of the length "
                    "(about 1,300 residues fit 24 GB, 2,000 fit 80 GB). Predict a domain, or "
                    "raise the limit if your GPU has the memory"
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


def _describe(error: dict) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:
        return message  # a check across keys names them itself
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
    return f"config key '{key}': {message}"


# Config keys that name a credential (a word of the key: `msa_api_key`, `token`).
_CREDENTIAL_KEY = re.compile(
    r"(?:^|[_.-])(?:password|passwd|secret|token|api[_-]?key|apikey|credentials?|auth|"
    r"authorization|access[_-]?key|private[_-]?key)(?:$|[_.-])",
    re.IGNORECASE,
)
# URL query parameters that carry one: those, and the bare `key`/`sig` of API keys and signed
# URLs (`?key=...`, `X-Goog-Signature=...`).
_CREDENTIAL_QUERY = re.compile(
    rf"{_CREDENTIAL_KEY.pattern}|(?:^|[_.-])(?:key|sig|signature)$", re.IGNORECASE
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
        for where, what in _credential_locations(raw, ()).items()
    }


def _credential_locations(raw: object, location: tuple[str | int, ...]) -> dict[tuple, str]:
    found: dict[tuple, str] = {}
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            here = (*location, str(key))
            if _CREDENTIAL_KEY.search(str(key)):
                found[here] = "is named like a credential"
            else:
                found |= _credential_locations(value, here)
    elif isinstance(raw, list):
        for index, value in enumerate(raw):
            found |= _credential_locations(value, (*location, index))
    elif isinstance(raw, str) and (reason := _url_credential(raw)):
        found[location] = reason
    return found


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
    leaked = credential_problems(raw)
    try:
        config = ScreenConfig.model_validate(raw, context={"sheet_file_needed": sheet_file_needed})
        errors = []
    except ValidationError as error:
        # Other messages about a leaked credential's key could repeat its value.
        errors = [e for e in error.errors() if not _under_any(tuple(e["loc"]), leaked)]
    problems = [*leaked.values(), *(_describe(e) for e in errors)]
    if problems:
        raise ConfigError("Invalid screen configuration:\n  - " + "\n  - ".join(problems)) from None
    return config


def _under_any(location: tuple, prefixes) -> bool:
    return any(location[: len(prefix)] == prefix for prefix in prefixes)
