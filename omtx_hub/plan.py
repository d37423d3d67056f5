"""From a validated config to the screen's plan: targets, their cache keys and GPU shards.

The unit of GPU work is a *shard*: up to `sharding.shard_size` targets of one protein,
predicted by a single `boltz predict` process, so the model is loaded once per shard.
Shards are consecutive runs of the sheet's distinct compounds in sheet order, so appending
ligands to a sheet only adds (or extends the last) shard of each protein.

Each target (protein x distinct compound) has a content-addressed key over everything that
determines its prediction; the result store is indexed by it, so nothing is ever computed
twice, across reruns and across screens.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from omtx_hub.config import ConfigError, Protein, Runtime, ScreenConfig
from omtx_hub.records import RELEASED_WEIGHTS, TEST_WEIGHTS_MARKER, Weights
from omtx_hub.sheet import VALIDATOR_VERSION, SheetError, check_sheet_size, validate_sheet
from omtx_hub.store import ResultStore

SEEDING_SCHEME = "per-target-v1"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def _cached_file_digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_digest(path: str | Path) -> str:
    """sha256 of a file, computed once per process for an unchanged file."""
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    return _cached_file_digest(str(resolved), stat.st_size, stat.st_mtime_ns)


def weights_in_use(runtime: Runtime) -> Weights:
    checkpoints = [c for c in (runtime.checkpoint, runtime.affinity_checkpoint) if c]
    if checkpoints:
        digests = ",".join(file_digest(c)[:16] for c in checkpoints)
        return Weights(
            identity=f"checkpoints:{digests}",
            released=False,
            note="custom checkpoints given in runtime.checkpoint",
        )
    marker = Path(runtime.cache).expanduser() / TEST_WEIGHTS_MARKER
    if marker.is_file():
        return Weights(
            identity=f"test-cache:{hashlib.sha256(marker.read_bytes()).hexdigest()[:16]}",
            released=False,
            note="random test weights from a generated cache (omtx_hub.testing.testcache): "
            "the scores are meaningless",
        )
    return Weights(identity=RELEASED_WEIGHTS, released=True, note="released Boltz-2 weights")


def msa_identity(msa: str, runtime: Runtime) -> str:
    """What an MSA setting (a chain's `msa`) contributes to the key."""
    if msa == "empty":
        return "empty"
    if msa == "server":
        return f"server:{runtime.msa_server_url}:{runtime.msa_pairing_strategy}"
    return f"file:{file_digest(msa)}"


def receptor_digest(protein: Protein, runtime: Runtime) -> str:
    """The receptor's part of its targets' keys (omtx_hub.receptor, `ReceptorSpec.digest`)."""
    return protein.receptor.digest(lambda msa: msa_identity(msa, runtime))


def prediction_spec(config: ScreenConfig) -> dict:
    """The screen-wide part of every cache key: model, precision, weights, Boltz version."""
    return {
        "boltz": version("boltz"),
        "model": config.model.model_dump(mode="json"),
        "precision": config.runtime.precision,
        "weights": weights_in_use(config.runtime).identity,
        # How Boltz's RNGs are seeded (omtx_hub/boltz_launcher.py). Results seeded once per
        # process (no entry) differ from per-target ones and must not be reused for them.
        "seeding": SEEDING_SCHEME,
    }


def target_key(spec_digest: str, protein_digest: str, modeled_smiles: str) -> str:
    return hashlib.sha256(f"{spec_digest}|{protein_digest}|{modeled_smiles}".encode()).hexdigest()


def sheet_cache_name(path: str | Path, *, affinity: bool, salts: str) -> str:
    """Where the store caches the validated sheet: keyed by the file's bytes, the validator's
    version, the versions of RDKit and Boltz (whose standardisation it applies), the
    affinity setting (Boltz standardises only the affinity ligand) and `ligands.salts`."""
    from rdkit import rdBase

    digest = sha256_file(path)
    return (
        f"sheets/{digest}-v{VALIDATOR_VERSION}-rdkit{rdBase.rdkitVersion}-boltz{version('boltz')}"
        f"-aff{int(affinity)}-salts-{salts}.tsv"
    )


def _read_validated(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), sep="\t", dtype=str, keep_default_na=False).astype(
        {"line": int, "index": int, "heavy_atoms": int}
    )


def load_validated_sheet(
    path: str, cache_name: str, *, affinity: bool, salts: str, store: ResultStore
) -> pd.DataFrame:
    """The validated sheet, from the store's cache when this exact file was validated before.

    Validation of 100,000 SMILES takes tens of seconds, so the result is cached in the store
    as `cache_name` (`sheet_cache_name`); remote jobs read it from there by that name
    (`stored_validated_sheet`) and never need the file.
    """
    cached = store.read_blob(cache_name)
    if cached is not None:
        return _read_validated(cached)
    validated = validate_sheet(path, affinity=affinity, salts=salts)
    # Every text cell quoted: an unquoted carriage return in a cell of the sheet's own
    # columns would end the row when the cache is read back.
    cached = validated.to_csv(sep="\t", index=False, quoting=csv.QUOTE_NONNUMERIC)
    store.write_blob(cache_name, cached.encode())
    return validated


def stored_validated_sheet(cache_name: str, store: ResultStore) -> pd.DataFrame:
    """The validated sheet the planning process cached as `cache_name`."""
    cached = store.read_blob(cache_name)
    if cached is None:
        raise ConfigError(
            f"the validated ligand sheet '{cache_name}' is not in the result store "
            f"{store.location}; the process that planned this run stores it there before "
            "submitting any job: was the store emptied while the run went on?"
        )
    return _read_validated(cached)


def _check_cofactors_are_not_screened(config: ScreenConfig, screened: set[str]) -> None:
    """Boltz makes one entity of identical SMILES, and refuses affinity for an entity with
    several copies ("Cannot compute affinity for a ligand that has multiple copies!")."""
    problems = [
        f"config key 'proteins[{i}].cofactors[{j}].smiles': {cofactor.smiles} is also a "
        "ligand of the sheet; Boltz cannot model it both as cofactor and as the screened "
        "ligand: remove it from one of them"
        for i, protein in enumerate(config.proteins)
        for j, cofactor in enumerate(protein.cofactors)
        if cofactor.smiles in screened
    ]
    if problems:
        raise ConfigError("Invalid screen configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class Shard:
    protein: str
    name: str
    targets: tuple[dict, ...]


class Plan:
    """The targets and shards of a screen."""

    def __init__(self, config: ScreenConfig, ligands: pd.DataFrame, sheet_cache: str):
        self.config = config
        self.ligands = ligands
        # The name of the validated sheet in the result store (remote jobs read it there).
        self.sheet_cache = sheet_cache
        self.spec = prediction_spec(config)
        self.weights = weights_in_use(config.runtime)
        spec_digest = hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()
        self.protein_digests = {
            protein.name: receptor_digest(protein, config.runtime) for protein in config.proteins
        }
        # One target per molecule Boltz models: rows with the same modelled SMILES share it
        # (e.g. 'OCC' and 'CCO', or a salt and its free base).
        distinct = ligands.drop_duplicates("modeled_smiles")
        aliases: dict[str, list[dict]] = {}
        for row in ligands[["modeled_smiles", "index", "ligand_id", "name"]].itertuples(
            index=False
        ):
            aliases.setdefault(row.modeled_smiles, []).append(
                {"index": int(row.index), "ligand_id": row.ligand_id, "name": row.name}
            )
        _check_cofactors_are_not_screened(config, set(distinct["modeled_smiles"]))
        size = config.sharding.shard_size
        self.shards: dict[tuple[str, str], Shard] = {}
        for protein in config.proteins:
            protein_digest = self.protein_digests[protein.name]
            targets = [
                {
                    "key": target_key(spec_digest, protein_digest, smiles),
                    "protein": protein.name,
                    "smiles": smiles,
                    "ligands": aliases[smiles],
                }
                for smiles in distinct["modeled_smiles"]
            ]
            for start in range(0, len(targets), size):
                name = f"{start // size:05d}"
                self.shards[(protein.name, name)] = Shard(
                    protein.name, name, tuple(targets[start : start + size])
                )

    @property
    def screen(self) -> str:
        return self.config.screen.name

    def protein(self, name: str) -> Protein:
        return next(p for p in self.config.proteins if p.name == name)

    def shard(self, protein: str, name: str) -> Shard:
        return self.shards[(protein, name)]

    @property
    def target_count(self) -> int:
        return sum(len(shard.targets) for shard in self.shards.values())

    def stored_keys(self, store: ResultStore) -> frozenset[str]:
        """The keys of this plan's targets that `store` already has."""
        return store.stored(
            target["key"] for shard in self.shards.values() for target in shard.targets
        )

    def stored_shards(self, stored_keys: frozenset[str]) -> list[tuple[str, str]]:
        """(protein, shard) of every shard whose targets are all in `stored_keys`."""
        return [
            name
            for name, shard in self.shards.items()
            if all(target["key"] in stored_keys for target in shard.targets)
        ]


def build_plan(config: ScreenConfig, store: ResultStore, sheet_cache: str | None = None) -> Plan:
    """The plan of `config`; with `sheet_cache` (a remote job) the validated sheet comes from
    the store under that name instead of from the sheet file."""
    if sheet_cache is not None:
        return Plan(config, stored_validated_sheet(sheet_cache, store), sheet_cache)
    affinity, sheet, salts = config.model.affinity, config.ligands.sheet, config.ligands.salts
    check_sheet_size(sheet, config.limits.sheet_max_bytes)  # before it is hashed
    try:
        sheet_cache = sheet_cache_name(sheet, affinity=affinity, salts=salts)
    except OSError as error:  # hashing reads every byte: what it reads, validation can
        raise SheetError(f"ligand sheet '{sheet}' cannot be read: {error}") from None
    ligands = load_validated_sheet(sheet, sheet_cache, affinity=affinity, salts=salts, store=store)
    return Plan(config, ligands, sheet_cache)
