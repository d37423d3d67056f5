"""From a validated config to the screen's plan: targets, their cache keys and GPU shards.

The unit of GPU work is a *shard*: up to `sharding.shard_size` targets of one protein,
predicted by a single `boltz predict` process, so the model is loaded once per shard.
Shards are consecutive runs of the sheet's distinct compounds in sheet order, so appending
ligands to a sheet only adds (or extends the last) shard of each protein.

Each target (protein x distinct compound) has a content-addressed key over everything that
determines its prediction; the result store is indexed by it, so nothing is ever computed
twice, across reruns and across screens.

With `model.replicates: n` each compound is a target n times, once per seed (`seed + r`),
each replicate with its own key and its own shards (one `--seed` per Boltz process), so the
replicates cache and resume as any target does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from omtx_hub import msa
from omtx_hub.config import ConfigError, Model, Protein, ScreenConfig
from omtx_hub.layout import RESULTS, ScreenLayout
from omtx_hub.paths import sha256_file
from omtx_hub.sheet import (
    CCD_IDENTITY_PREFIX,
    VALIDATOR_VERSION,
    SheetError,
    check_sheet_size,
    molecule_identities,
    validate_sheet,
)
from omtx_hub.store import ResultStore
from omtx_hub.weights import weights_in_use

# The version of what goes into a key and how. Entries keyed under another scheme are never
# taken for this one's (omtx_hub.key_schemes says so when a store holds them). Scheme 1: the
# keys before this number existed. Scheme 2: the MSA's content and the checkpoint files'
# sha256 in the key; settings that cannot change a prediction left out
# (docs/how-a-screen-runs.md, "What the key contains").
KEY_SCHEME = 2
SEEDING_SCHEME = "per-target-v1"
# boltz/main.py (predict): `step_scale = 1.5 if step_scale is None else step_scale` for
# Boltz-2, so `step_scale: null` and 1.5 are the same prediction.
BOLTZ2_DEFAULT_STEP_SCALE = 1.5
# Used only by Boltz's affinity stage (boltz/main.py, predict_affinity_args and
# affinity_mw_correction): no part of a prediction without affinity.
AFFINITY_ONLY_FIELDS = (
    "sampling_steps_affinity",
    "diffusion_samples_affinity",
    "affinity_mw_correction",
)
# How many diffusion samples one forward pass denoises: the noise of every sample is drawn
# before the passes (boltz/model/modules/diffusionv2.py, AtomDiffusion.sample), the affinity
# stage fixes it at 1 (boltz/main.py), and on the CPU test path one pass or one sample at a
# time give bit-identical files (tests/workflow/test_key_hygiene.py). Like `devices`, it is
# not in the key.
NOT_CHANGING_PREDICTIONS = ("max_parallel_samples",)
# How many predictions a target gets, not part of any one of them: replicate r is the
# prediction with the seed `model.seed + r`, keyed as exactly that prediction (so replicate 0
# keeps the key of a screen without replicates, and replicate 1 of seed 0 is the prediction
# a screen with seed 1 makes).
REPLICATE_FIELDS = ("replicates",)
# A shard's name: its number among the protein's shards, then `-r<replicate>` for the
# shards of replicates after the first (00000, 00001, ..., 00000-r1, ...).
SHARD_NAME_PATTERN = r"\d{5}(?:-r\d+)?"


def replicate_seeds(model: Model) -> list[int | None]:
    """The seed of each replicate: `model.seed`, `model.seed + 1`, ... (config.Model
    requires a seed for more than one replicate)."""
    if model.replicates == 1:
        return [model.seed]
    return [model.seed + replicate for replicate in range(model.replicates)]


def shard_name(number: int, replicate: int) -> str:
    return f"{number:05d}" if replicate == 0 else f"{number:05d}-r{replicate}"


def model_in_key(model: Model) -> dict:
    """The `model` settings that can change a prediction, as Boltz applies them."""
    fields = model.model_dump(mode="json", exclude={*NOT_CHANGING_PREDICTIONS, *REPLICATE_FIELDS})
    if fields["step_scale"] is None:
        fields["step_scale"] = BOLTZ2_DEFAULT_STEP_SCALE
    if not model.affinity:
        for name in AFFINITY_ONLY_FIELDS:
            del fields[name]
    return fields


def prediction_spec(config: ScreenConfig, replicate: int = 0) -> dict:
    """The screen-wide part of the cache keys of one replicate: key scheme, Boltz version,
    model settings (the replicate's seed), precision, the checkpoints' sha256 and the
    seeding scheme."""
    model = config.model.model_copy(update={"seed": replicate_seeds(config.model)[replicate]})
    weights = weights_in_use(config.runtime, affinity=config.model.affinity)
    checkpoints = {"structure": weights.structure_sha256}
    if config.model.affinity:
        checkpoints["affinity"] = weights.affinity_sha256
    return {
        "key_scheme": KEY_SCHEME,
        "boltz": version("boltz"),
        "model": model_in_key(model),
        "precision": config.runtime.precision,
        "weights": checkpoints,
        # How Boltz's RNGs are seeded (omtx_hub/boltz_launcher.py). Results seeded once per
        # process (no entry) differ from per-target ones and must not be reused for them.
        "seeding": SEEDING_SCHEME,
    }


def target_key(spec_digest: str, protein_digest: str, molecule: str) -> str:
    """A target's key; `molecule` is its ligand's identity (`sheet.molecule_identities`)."""
    return hashlib.sha256(f"{spec_digest}|{protein_digest}|{molecule}".encode()).hexdigest()


def server_msa_id(protein: Protein, config: ScreenConfig) -> str:
    """The result store's address of the receptor's server MSA: its `server` chains'
    sequences in order, the server and the pairing strategy."""
    runtime = config.runtime
    return msa.server_msa_id(
        list(protein.receptor.server_chains().values()),
        runtime.msa_server_url,
        runtime.msa_pairing_strategy,
    )


def screen_msa_record(
    config: ScreenConfig, protein: Protein, results_root: str | Path, *, fetching_anew: bool
) -> msa.StoredServerMsa | None:
    """The server MSA this screen's fetch_msa job wrote for `protein` (its files and record),
    if it answers the current query (sequences, server, pairing) and stays in use: not when
    this run fetches anew, unless that record was itself fetched with runtime.msa_refresh
    (then the job does not run again: Snakemake reruns it when the switch changes)."""
    layout = ScreenLayout.of(results_root, config.screen.name)
    if not layout.msa(protein.name).is_dir():
        return None
    record = msa.recorded_server_msa(
        layout.msa_record(protein.name), server_msa_id(protein, config)
    )
    if record is None or (fetching_anew and not record.record.get("msa_refresh")):
        return None
    return record


def chain_msa_identities(
    protein: Protein, server: msa.StoredServerMsa | None
) -> dict[str, str] | None:
    """Each protein chain entry's first id -> what its MSA is: 'single-sequence', or the
    format and sha256 of the MSA file (the user's, or the server's from `server`); None when
    the receptor has `server` chains and `server` is not known yet."""
    receptor = protein.receptor
    server_chains = list(receptor.server_chains())
    if server_chains and server is None:
        return None
    identities = {}
    for chain in receptor.chains:
        first = chain.ids[0]
        if chain.msa == "empty":
            identities[first] = msa.SINGLE_SEQUENCE
        elif chain.msa == "server":
            identities[first] = server.identity(server_chains.index(first))
        else:
            identities[first] = msa.content_identity(chain.msa)
    return identities


def msa_identities(
    config: ScreenConfig,
    store: ResultStore,
    *,
    fetching_anew: bool = False,
    results_root: str | Path = RESULTS,
) -> dict[str, dict[str, str] | None]:
    """protein -> its chains' MSA identities (`chain_msa_identities`); None for a receptor
    whose server MSA is not fetched yet, or about to be fetched anew (`fetching_anew`:
    runtime.msa_refresh in the process that plans a run).

    A server MSA is the one the screen's own fetch_msa job recorded (it stays this screen's
    even when another screen refreshes the store's copy), else the store's for its query."""
    identities: dict[str, dict[str, str] | None] = {}
    for protein in config.proteins:
        fetched = None
        if protein.receptor.server_chains():
            fetched = screen_msa_record(config, protein, results_root, fetching_anew=fetching_anew)
            if fetched is None and not fetching_anew:
                fetched = msa.stored_server_msa(store, server_msa_id(protein, config))
        identities[protein.name] = chain_msa_identities(protein, fetched)
    return identities


def sheet_cache_name(
    path: str | Path, *, affinity: bool, salts: str, mols_dir: Path | None = None
) -> str:
    """Where the store caches the validated sheet: keyed by the file's bytes, the validator's
    version, the versions of RDKit and Boltz (whose standardisation it applies), the
    affinity setting (Boltz standardises only the affinity ligand), `ligands.salts` and
    whether Boltz's molecule cache `mols_dir` was there to check CCD codes against."""
    from rdkit import rdBase

    digest = sha256_file(path)
    mols = int(mols_dir is not None and mols_dir.is_dir())
    return (
        f"sheets/{digest}-v{VALIDATOR_VERSION}-rdkit{rdBase.rdkitVersion}-boltz{version('boltz')}"
        f"-aff{int(affinity)}-salts-{salts}-mols{mols}.tsv"
    )


def _read_validated(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), sep="\t", dtype=str, keep_default_na=False).astype(
        {"line": int, "index": int, "heavy_atoms": int}
    )


def load_validated_sheet(
    path: str,
    cache_name: str,
    *,
    affinity: bool,
    salts: str,
    store: ResultStore,
    mols_dir: Path | None = None,
) -> pd.DataFrame:
    """The validated sheet, from the store's cache when this exact file was validated before.

    Validation of 100,000 SMILES takes tens of seconds, so the result is cached in the store
    as `cache_name` (`sheet_cache_name`); remote jobs read it from there by that name
    (`stored_validated_sheet`) and never need the file.
    """
    cached = store.read_blob(cache_name)
    if cached is not None:
        return _read_validated(cached)
    validated = validate_sheet(path, affinity=affinity, salts=salts, mols_dir=mols_dir)
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
    """Boltz makes one entity of identical SMILES (or CCD codes), and refuses affinity for an
    entity with several copies ("Cannot compute affinity for a ligand that has multiple
    copies!"). `screened`: the sheet's molecule identities."""
    problems = [
        f"config key 'proteins[{i}].cofactors[{j}].{'ccd' if cofactor.ccd else 'smiles'}': "
        f"{cofactor.label} is also a ligand of the sheet; Boltz cannot model it both as "
        "cofactor and as the screened ligand: remove it from one of them"
        for i, protein in enumerate(config.proteins)
        for j, cofactor in enumerate(protein.cofactors)
        if (CCD_IDENTITY_PREFIX + cofactor.ccd if cofactor.ccd else cofactor.smiles) in screened
    ]
    if problems:
        raise ConfigError("Invalid screen configuration:\n  - " + "\n  - ".join(problems))


def _target_molecule(identity: str, modeled_smiles: str) -> dict:
    """A target's ligand fields: `smiles` (what Boltz models), or for a CCD ligand its `ccd`
    code and `smiles` the cache molecule's (None when the cache was not here)."""
    if identity.startswith(CCD_IDENTITY_PREFIX):
        return {"smiles": modeled_smiles or None, "ccd": identity.removeprefix(CCD_IDENTITY_PREFIX)}
    return {"smiles": identity}


@dataclass(frozen=True)
class Shard:
    protein: str
    name: str
    targets: tuple[dict, ...]
    replicate: int = 0


class Plan:
    """The targets and shards of a screen."""

    def __init__(
        self,
        config: ScreenConfig,
        ligands: pd.DataFrame,
        sheet_cache: str,
        msa_identities: dict[str, str | None],
    ):
        self.config = config
        self.ligands = ligands
        # The name of the validated sheet in the result store (remote jobs read it there).
        self.sheet_cache = sheet_cache
        # One spec per replicate (its seed); replicate 0's is the screen's `spec`.
        self.specs = [prediction_spec(config, r) for r in range(config.model.replicates)]
        self.spec = self.specs[0]
        self.seeds = replicate_seeds(config.model)
        self.weights = weights_in_use(config.runtime, affinity=config.model.affinity)
        self.spec_digests = [
            hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
            for spec in self.specs
        ]
        # The server MSAs not known yet (None) are known once fetch_msa has run
        # (`use_fetched_msa`).
        self.msa_identities = dict(msa_identities)
        self._msa_fetched: set[str] = set()
        # One target per molecule Boltz models: rows with the same modelled SMILES share it
        # (e.g. 'OCC' and 'CCO', or a salt and its free base), rows of one CCD code too.
        identities = molecule_identities(ligands)
        self._molecules: dict[str, dict] = {}
        self._aliases: dict[str, list[dict]] = {}
        for identity, row in zip(
            identities,
            ligands[["modeled_smiles", "index", "ligand_id", "name"]].itertuples(index=False),
            strict=True,
        ):
            self._molecules.setdefault(identity, _target_molecule(identity, row.modeled_smiles))
            self._aliases.setdefault(identity, []).append(
                {"index": int(row.index), "ligand_id": row.ligand_id, "name": row.name}
            )
        _check_cofactors_are_not_screened(config, set(self._molecules))
        self.shards: dict[tuple[str, str], Shard] = {}
        for protein in config.proteins:
            self._plan_shards(protein)

    def _plan_shards(self, protein: Protein) -> None:
        identities = self.msa_identities[protein.name]
        if identities is None:
            # Keys that no entry can have: the targets count as not stored until the MSA is
            # there and `use_fetched_msa` gives them their keys.
            pending = f"server-msa-not-fetched:{server_msa_id(protein, self.config)}"
            identities = {chain.ids[0]: pending for chain in protein.receptor.chains}
        digest = protein.receptor.digest(lambda chain: identities[chain.ids[0]])
        size = self.config.sharding.shard_size
        for replicate, spec_digest in enumerate(self.spec_digests):
            targets = [
                {
                    "key": target_key(spec_digest, digest, identity),
                    "protein": protein.name,
                    **molecule,
                    "ligands": self._aliases[identity],
                    # (only with replicates: the targets of a screen without stay as they were)
                    **({"replicate": replicate} if len(self.specs) > 1 else {}),
                }
                for identity, molecule in self._molecules.items()
            ]
            for start in range(0, len(targets), size):
                name = shard_name(start // size, replicate)
                self.shards[(protein.name, name)] = Shard(
                    protein.name, name, tuple(targets[start : start + size]), replicate
                )

    @property
    def pending_msas(self) -> list[str]:
        """The proteins whose server MSA is not known yet (their keys with it)."""
        return [name for name, identity in self.msa_identities.items() if identity is None]

    def use_fetched_msa(
        self, protein: str, store: ResultStore, results_root: str | Path = RESULTS
    ) -> dict[str, str]:
        """Once the fetch_msa job of `protein` has run: its chains' MSA identities (from the
        job's record, else the store), and the keys of the protein's targets made with them."""
        if protein in self._msa_fetched:
            return self.msa_identities[protein]
        fetched = screen_msa_record(
            self.config, self.protein(protein), results_root, fetching_anew=False
        ) or msa.stored_server_msa(store, server_msa_id(self.protein(protein), self.config))
        if fetched is None:
            raise ConfigError(
                f"the server MSA of protein '{protein}' is neither recorded by this screen nor "
                f"in the result store {store.location}, though its fetch_msa job finished: was "
                "the store emptied while the run went on?"
            )
        self._msa_fetched.add(protein)
        identities = chain_msa_identities(self.protein(protein), fetched)
        if identities != self.msa_identities[protein]:
            self.msa_identities[protein] = identities
            self._plan_shards(self.protein(protein))
        return self.msa_identities[protein]

    @property
    def screen(self) -> str:
        return self.config.screen.name

    def protein(self, name: str) -> Protein:
        return next(p for p in self.config.proteins if p.name == name)

    def shard(self, protein: str, name: str) -> Shard:
        return self.shards[(protein, name)]

    def shard_spec(self, protein: str, name: str) -> dict:
        """The spec of the shard's replicate, which its records carry; its `model.seed` is the
        replicate's, Boltz's `--seed` in the shard."""
        return self.specs[self.shard(protein, name).replicate]

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


def build_plan(
    config: ScreenConfig,
    store: ResultStore,
    sheet_cache: str | None = None,
    *,
    fetching_msas_anew: bool = False,
) -> Plan:
    """The plan of `config`; with `sheet_cache` (a remote job) the validated sheet comes from
    the store under that name instead of from the sheet file. `fetching_msas_anew`: this
    process plans a run that asks the MSA server again (runtime.msa_refresh), so the store's
    server MSAs are not the ones its targets will use."""
    identities = msa_identities(config, store, fetching_anew=fetching_msas_anew)
    if sheet_cache is not None:
        return Plan(config, stored_validated_sheet(sheet_cache, store), sheet_cache, identities)
    affinity, sheet, salts = config.model.affinity, config.ligands.sheet, config.ligands.salts
    mols_dir = config.runtime.molecule_cache
    check_sheet_size(sheet, config.limits.sheet_max_bytes)  # before it is hashed
    try:
        sheet_cache = sheet_cache_name(sheet, affinity=affinity, salts=salts, mols_dir=mols_dir)
    except OSError as error:  # hashing reads every byte: what it reads, validation can
        raise SheetError(f"ligand sheet '{sheet}' cannot be read: {error}") from None
    ligands = load_validated_sheet(
        sheet, sheet_cache, affinity=affinity, salts=salts, store=store, mols_dir=mols_dir
    )
    return Plan(config, ligands, sheet_cache, identities)
