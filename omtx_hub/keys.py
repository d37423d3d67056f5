"""Every key and content id of the project, derived in one place.

- A **target key** (the result store's address of one prediction) is the sha256 of the
  prediction spec of its protein's engine (`prediction_spec`: key scheme, Boltz version, the
  model settings that can change a prediction, precision, the checkpoints' sha256, the
  seeding scheme), the receptor's digest (`receptor_digest`: everything Boltz models around the
  ligand, MSAs and templates by content) and the screened molecule's identity (its modelled
  SMILES, or `ccd:<CODE>`; a binder screen's chain: `binder_identity`):
  docs/how-a-screen-runs.md, "What the key contains".
- A **server MSA id** addresses a receptor's server MSA in the store: what the server is
  asked (the chains' sequences, the pairing strategy) and which server.
- An **MSA file identity** names an MSA by format and content.
- A **sheet key** addresses a validated ligand sheet: the file's bytes and everything the
  validation depends on.
- A failure is recorded under its target's key.

Pure functions: the callers read files and pass their bytes or digests (omtx_hub.plan).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path

from omtx_hub.binders import BINDER_IDENTITY_PREFIX
from omtx_hub.boltz_schema import input_document
from omtx_hub.config import Model, ScreenConfig
from omtx_hub.medchem import CHEMISTRY_VERSION
from omtx_hub.msa import FORMATS
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.records import Binder, Weights
from omtx_hub.sheet import VALIDATOR_VERSION

# The version of what goes into a key and how. Entries keyed under another scheme are never
# taken for this one's (omtx_hub.key_schemes says so when a store holds them). Scheme 1: the
# keys before this number existed. Scheme 2: the MSA's content and the checkpoint files'
# sha256 in the key; settings that cannot change a prediction left out
# (docs/how-a-screen-runs.md, "What the key contains").
KEY_SCHEME = 2
# How Boltz's RNGs are seeded (omtx_hub/boltz_launcher.py). Results seeded once per process
# (no entry) differ from per-target ones and must not be reused for them.
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
# The engine and Chai-1's own settings: a Boltz-2 key is the key it was before engines existed
# (the engine is Boltz-2 where the spec names none; Chai-1's keys name theirs).
ENGINE_FIELDS = ("engine", "use_esm_embeddings")


def replicate_seeds(model: Model) -> list[int | None]:
    """The seed of each replicate: `model.seed`, `model.seed + 1`, ... (config.Model
    requires a seed for more than one replicate)."""
    if model.replicates == 1:
        return [model.seed]
    return [model.seed + replicate for replicate in range(model.replicates)]


def model_in_key(model: Model) -> dict:
    """The `model` settings that can change a prediction, as Boltz applies them."""
    fields = model.model_dump(
        mode="json", exclude={*NOT_CHANGING_PREDICTIONS, *REPLICATE_FIELDS, *ENGINE_FIELDS}
    )
    if fields["step_scale"] is None:
        fields["step_scale"] = BOLTZ2_DEFAULT_STEP_SCALE
    if not model.affinity:
        for name in AFFINITY_ONLY_FIELDS:
            del fields[name]
    return fields


def prediction_spec(
    config: ScreenConfig, engine: str, weights: Weights, replicate: int = 0
) -> dict:
    """The part of the keys of one replicate of an engine's targets that the engine and its
    settings (`config.engine_model(engine)`) make: key scheme, Boltz version, model settings
    (the replicate's seed), precision, the checkpoints' sha256 (`weights`, as
    omtx_hub.weights.weights_in_use found them) and the seeding scheme. Chai-1's is
    `chai1_prediction_spec`. The same for every protein of one engine: a protein's keys are
    those a screen of its engine alone makes."""
    model = config.engine_model(engine)
    if model.engine == "chai1":
        return chai1_prediction_spec(model, weights, replicate)
    model = model.model_copy(update={"seed": replicate_seeds(model)[replicate]})
    checkpoints = {"structure": weights.structure_sha256}
    if model.affinity:
        checkpoints["affinity"] = weights.affinity_sha256
    return {
        "key_scheme": KEY_SCHEME,
        "boltz": version("boltz"),
        "model": model_in_key(model),
        "precision": config.runtime.precision,
        "weights": checkpoints,
        "seeding": SEEDING_SCHEME,
    }


# Chai-1 (omtx_hub.chai1): the chai-lab version its environment pins
# (engines/chai1/requirements.txt; the shard job checks the runner reports it), and how the
# runner seeds: every target with the shard's seed before its features are built, so its
# result does not depend on its shard-mates (engines/chai1/runner.py, run_target).
CHAI_LAB_VERSION = "0.6.1"
CHAI1_SEEDING_SCHEME = "chai1-runner-per-target-v1"


def chai1_settings(model: Model) -> dict:
    """The Chai-1 settings of `model` that change a prediction, by chai-lab's names (those of
    the runner's shard file, engines/chai1/runner.py), and the seed."""
    return {
        "num_trunk_recycles": model.recycling_steps,
        "num_diffn_timesteps": model.sampling_steps,
        "num_diffn_samples": model.diffusion_samples,
        "use_esm_embeddings": model.use_esm_embeddings,
        "seed": model.seed,
    }


def chai1_prediction_spec(model: Model, weights: Weights, replicate: int = 0) -> dict:
    """A Chai-1 protein's part of the keys of one replicate: the key scheme, the engine and
    chai-lab's version, the settings of `model` that change a prediction (the replicate's
    seed), the sha256 of each of the six model components and the seeding scheme. Boltz-2's
    keys have no `engine` field (`prediction_spec`): no Chai-1 key can equal one of theirs."""
    model = model.model_copy(update={"seed": replicate_seeds(model)[replicate]})
    return {
        "key_scheme": KEY_SCHEME,
        "engine": "chai1",
        "chai_lab": CHAI_LAB_VERSION,
        "model": chai1_settings(model),
        "weights": dict(weights.components_sha256 or {}),
        "seeding": CHAI1_SEEDING_SCHEME,
    }


def spec_digest(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def target_key(spec_digest: str, receptor_digest: str, molecule: str) -> str:
    """A target's key; `molecule` is its ligand's identity (`sheet.molecule_identities`)."""
    return hashlib.sha256(f"{spec_digest}|{receptor_digest}|{molecule}".encode()).hexdigest()


def binder_identity(binder: Binder, msa_identity: str | None) -> str:
    """A binder screen's screened chain as keys know it (the `molecule` of `target_key`):
    everything of it that Boltz models: its type, its sequence, its MSA by content
    (`msa_file_identity`, 'single-sequence' for `empty`, None for DNA and RNA) and whether it
    is cyclic. Not its name nor its MSA file's path. A SMILES never starts with the prefix,
    so no molecule's key is a binder's."""
    material = {
        "type": binder.type,
        "sequence": binder.sequence,
        "msa": msa_identity,
        "cyclic": binder.cyclic,
    }
    return BINDER_IDENTITY_PREFIX + json.dumps(material, sort_keys=True, separators=(",", ":"))


def receptor_digest(
    receptor: ReceptorSpec, msa_identities: Mapping[str, str], template_sha256: Sequence[str]
) -> str:
    """The receptor's part of every key: `msa_identities` maps each protein chain entry's
    first id to what its MSA is (`msa_file_identity`, a server MSA's, or 'single-sequence'),
    `template_sha256` gives each template file's sha256 in order. A single chain A alone (the
    `sequence:` shorthand) keeps the digest single-chain screens always had."""
    if receptor.is_shorthand:
        chain = receptor.chains[0]
        identity = msa_identities[chain.ids[0]]
        return hashlib.sha256(f"{chain.sequence}|{identity}".encode()).hexdigest()
    material = receptor_key_material(receptor, msa_identities, template_sha256)
    return hashlib.sha256(
        json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def receptor_key_material(
    receptor: ReceptorSpec, msa_identities: Mapping[str, str], template_sha256: Sequence[str]
) -> dict:
    """Everything of the receptor that determines a prediction and its files: the input
    document without the screened ligand, MSAs and templates by content. Not the entry's
    name, nor file paths."""
    msas = {c.ids[0]: msa_identities[c.ids[0]] for c in receptor.msa_chains}
    # The covalent bond's ligand atom differs from ligand to ligand (and is a function of the
    # molecule, which the key holds): the site and the warhead are the receptor's part.
    without_bond = dataclasses.replace(receptor, covalent=None)
    placeholder = input_document(without_bond, msas, "", affinity=False)
    if receptor.covalent is not None:
        placeholder["covalent"] = receptor.covalent.model_dump(mode="json")
    for template, sha256 in zip(placeholder.get("templates", []), template_sha256, strict=True):
        template["cif"] = sha256
    return placeholder


def server_msa_id(sequences: list[str], server_url: str, pairing_strategy: str) -> str:
    """The store address of the server MSA of a receptor's protein chains: what the server
    is asked (the chains' sequences, in order, and the pairing strategy) and which server."""
    query = {"sequences": sequences, "server_url": server_url, "pairing_strategy": pairing_strategy}
    return hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()


def msa_file_identity(path: str | Path, data: bytes) -> str:
    """What of an MSA file changes a prediction: its format and its bytes."""
    return f"{FORMATS[Path(path).suffix]}:{hashlib.sha256(data).hexdigest()}"


def server_msa_identity(chain_sha256: str) -> str:
    """The identity of a server MSA's chain file (Boltz's csv format) by its sha256."""
    return f"csv:{chain_sha256}"


def molecules_key(*, affinity: bool, salts: str) -> str:
    """What the validation of a SMILES depends on, besides the SMILES: the validator's
    version, the versions of RDKit and Boltz (whose standardisation it applies), the affinity
    setting (Boltz standardises only the affinity ligand) and `ligands.salts`."""
    from rdkit import rdBase

    return (
        f"v{VALIDATOR_VERSION}-rdkit{rdBase.rdkitVersion}-boltz{version('boltz')}"
        f"-aff{int(affinity)}-salts-{salts}"
    )


def chemistry_key() -> str:
    """What a molecule's alerts and properties (omtx_hub.medchem) depend on, besides its
    modelled SMILES: their version and RDKit's."""
    from rdkit import rdBase

    return f"c{CHEMISTRY_VERSION}-rdkit{rdBase.rdkitVersion}"


def sheet_key(sheet_sha256: str, *, affinity: bool, salts: str, molecules_checked: bool) -> str:
    """The address of a validated sheet: the file's sha256, what validation depends on
    (`molecules_key`) and whether CCD codes were checked against Boltz's molecule cache."""
    validation = molecules_key(affinity=affinity, salts=salts)
    return f"{sheet_sha256}-{validation}-mols{int(molecules_checked)}"
