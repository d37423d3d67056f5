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

import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from omtx_hub.config import Protein, Runtime, ScreenConfig
from omtx_hub.sheet import VALIDATOR_VERSION, validate_sheet
from omtx_hub.store import ResultStore
from omtx_hub.testcache import TEST_WEIGHTS_MARKER

RELEASED_WEIGHTS = "boltz2-released"
SEEDING_SCHEME = "per-target-v1"
# Store lookups are one HTTP request each on GCS; enough in flight to check 10,000 targets
# in seconds.
LOOKUP_THREADS = 32


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


@dataclass(frozen=True)
class Weights:
    """Which model weights predict: the released ones, or anything else (flagged)."""

    identity: str
    released: bool
    note: str


def weights_in_use(runtime: Runtime) -> Weights:
    checkpoints = [c for c in (runtime.checkpoint, runtime.affinity_checkpoint) if c]
    if checkpoints:
        digests = ",".join(file_digest(c)[:16] for c in checkpoints)
        return Weights(
            f"checkpoints:{digests}", False, "custom checkpoints given in runtime.checkpoint"
        )
    marker = Path(runtime.cache).expanduser() / TEST_WEIGHTS_MARKER
    if marker.is_file():
        return Weights(
            f"test-cache:{hashlib.sha256(marker.read_bytes()).hexdigest()[:16]}",
            False,
            "random test weights from a generated cache (omtx_hub.testcache): "
            "the scores are meaningless",
        )
    return Weights(RELEASED_WEIGHTS, True, "released Boltz-2 weights")


def msa_identity(protein: Protein, runtime: Runtime) -> str:
    if protein.msa == "empty":
        return "empty"
    if protein.msa == "server":
        return f"server:{runtime.msa_server_url}:{runtime.msa_pairing_strategy}"
    return f"file:{file_digest(protein.msa)}"


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


def target_key(spec_digest: str, protein_digest: str, canonical_smiles: str) -> str:
    return hashlib.sha256(f"{spec_digest}|{protein_digest}|{canonical_smiles}".encode()).hexdigest()


def _sheet_cache_name(sheet_bytes: bytes, affinity: bool) -> str:
    from rdkit import rdBase

    digest = hashlib.sha256(sheet_bytes).hexdigest()
    return f"sheets/{digest}-v{VALIDATOR_VERSION}-rdkit{rdBase.rdkitVersion}-aff{int(affinity)}.tsv"


def load_validated_sheet(path: str, *, affinity: bool, store: ResultStore) -> pd.DataFrame:
    """The validated sheet, from the store's cache when this exact file was validated before.

    Validation of 100,000 SMILES takes tens of seconds; every remote job re-parses the
    workflow, so the result is cached in the store keyed by the sheet's bytes.
    """
    sheet_bytes = Path(path).read_bytes()
    cache_name = _sheet_cache_name(sheet_bytes, affinity)
    cached = store.read_blob(cache_name)
    if cached is not None:
        return pd.read_csv(io.BytesIO(cached), sep="\t", dtype=str, keep_default_na=False).astype(
            {"line": int, "index": int, "heavy_atoms": int}
        )
    validated = validate_sheet(path, affinity=affinity)
    store.write_blob(cache_name, validated.to_csv(sep="\t", index=False).encode())
    return validated


@dataclass(frozen=True)
class Shard:
    protein: str
    name: str
    targets: tuple[dict, ...]


class Plan:
    """The targets and shards of a screen."""

    def __init__(self, config: ScreenConfig, ligands: pd.DataFrame):
        self.config = config
        self.ligands = ligands
        self.spec = prediction_spec(config)
        self.weights = weights_in_use(config.runtime)
        spec_digest = hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()
        self.protein_digests = {
            protein.name: hashlib.sha256(
                f"{protein.sequence}|{msa_identity(protein, config.runtime)}".encode()
            ).hexdigest()
            for protein in config.proteins
        }
        # One target per distinct compound: rows with the same canonical SMILES share it.
        distinct = ligands.drop_duplicates("canonical_smiles")
        aliases: dict[str, list[dict]] = {}
        for row in ligands[["canonical_smiles", "index", "ligand_id", "name"]].itertuples(
            index=False
        ):
            aliases.setdefault(row.canonical_smiles, []).append(
                {"index": int(row.index), "ligand_id": row.ligand_id, "name": row.name}
            )
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
                for smiles in distinct["canonical_smiles"]
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
        keys = [target["key"] for shard in self.shards.values() for target in shard.targets]
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            found = pool.map(store.has, keys)
            return frozenset(key for key, has in zip(keys, found, strict=True) if has)

    def stored_shards(self, stored_keys: frozenset[str]) -> list[tuple[str, str]]:
        """(protein, shard) of every shard whose targets are all in `stored_keys`."""
        return [
            name
            for name, shard in self.shards.items()
            if all(target["key"] in stored_keys for target in shard.targets)
        ]


def build_plan(config: ScreenConfig, store: ResultStore) -> Plan:
    ligands = load_validated_sheet(config.ligands, affinity=config.model.affinity, store=store)
    return Plan(config, ligands)
