"""The Chai-1 engine's side in this package (docs/engines.md): where its environment and
downloads are, the identity of its weights in the keys, the runner's shard document built from
the plan's targets, its command, and its outputs read into the typed target record.

Chai-1 runs in an environment of its own (`make chai1`; chai-lab pins torch, numpy, pandas and
RDKit versions the project cannot share), by engines/chai1/runner.py, which imports nothing
from this package: this module writes the runner's shard JSON and reads the files it writes.
What the runner needs of the downloads, and where each comes from, the runner says itself
(`missing_downloads`, `missing_downloads_message`): this module loads the runner's file for
them (its module level imports only the standard library), so the list has one owner.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from pathlib import Path
from types import ModuleType

from omtx_hub.config import ConfigError, Model, Runtime, keyed_message
from omtx_hub.failures import DETERMINISTIC_ERRORS, TRANSIENT_WORDS
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.records import Target, Weights
from omtx_hub.weights import checkpoint_sha256

# The runner, in the checkout this package is imported from (a Google Batch job imports the
# checkout shipped with the workflow; the Chai-1 image has a copy under /opt/omtx-hub too).
RUNNER = Path(__file__).resolve().parents[1] / "engines" / "chai1" / "runner.py"
# The profile's image (googlebatch-container), whose `boltz` is `chai1` in the Chai-1 image's name.
BOLTZ_IMAGE = re.compile(r"(?P<repository>.+/)boltz(?P<tag>:[^/:]+)")
# runtime.chai1_python's default: $CHAI1_PYTHON (set in the Chai-1 image), else the environment
# `make chai1` builds, relative to the directory Snakemake runs in.
PYTHON_VARIABLE = "CHAI1_PYTHON"
LOCAL_PYTHON = ".chai1/bin/python"
# runtime.chai1_downloads' default, the variable chai-lab itself reads.
DOWNLOADS_VARIABLE = "CHAI_DOWNLOADS_DIR"
# A downloads folder of generated stand-ins (tests/chai1_standins.py writes this file in it):
# its scores are not a model's.
STAND_INS_MARKER = "omtx-hub-stand-ins.txt"
# The name of the screened ligand's entity in a Chai-1 input (the receptor's chains are named by
# their chain ids).
LIGAND_ENTITY = "LIG"
# The runner's words for a target with an entity chai-lab dropped (engines/chai1/runner.py,
# run_target).
UNBUILT_ENTITY = "chai-lab could not build entities"
# The entity kind of each receptor chain type, in the runner's shard file.
ENTITY_KINDS = {"protein": "protein", "dna": "dna", "rna": "rna"}


@functools.cache
def runner() -> ModuleType:
    """engines/chai1/runner.py as a module (only its standard-library parts are used here)."""
    spec = importlib.util.spec_from_file_location("omtx_chai1_runner", RUNNER)
    if spec is None or not RUNNER.is_file():
        raise ConfigError(f"the Chai-1 runner {RUNNER} is missing from this checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chai1_image(run_image: str) -> str:
    """The Chai-1 image of a Google Batch run whose (Boltz) image is `run_image`, the profile's
    googlebatch-container: the same registry, repository and tag, named `chai1` instead of
    `boltz` (cloudbuild.yaml pushes both, `_IMAGE`)."""
    named = BOLTZ_IMAGE.fullmatch(run_image or "")
    if named is None:
        raise ConfigError(
            f"googlebatch-container is {run_image!r}: a Chai-1 screen's shards run in the Chai-1 "
            "image named as the Boltz image with `chai1` for `boltz` "
            "(REGION-docker.pkg.dev/PROJECT/omtx-hub/boltz:TAG -> .../chai1:TAG); name the "
            "Boltz image so (docs/google-batch.md)"
        )
    return f"{named['repository']}chai1{named['tag']}"


def python(runtime: Runtime) -> str:
    """The Python of Chai-1's environment (runtime.chai1_python)."""
    return runtime.chai1_python or os.environ.get(PYTHON_VARIABLE) or LOCAL_PYTHON


def downloads(runtime: Runtime) -> Path:
    """chai-lab's downloads folder (runtime.chai1_downloads, else $CHAI_DOWNLOADS_DIR)."""
    folder = runtime.chai1_downloads or os.environ.get(DOWNLOADS_VARIABLE)
    if not folder:
        raise ConfigError(
            keyed_message(
                "runtime.chai1_downloads",
                "a Chai-1 screen needs chai-lab's downloads folder (its weights): set it, or "
                f"${DOWNLOADS_VARIABLE}. Fill the folder once on a machine that reaches Chai's "
                "asset server (docs/engines.md, Weights)",
            )
        )
    return Path(folder).expanduser()


def chai1_weights(runtime: Runtime, model: Model) -> Weights:
    """The identity of the Chai-1 weights a screen predicts with: the sha256 of each of the six
    model components. Missing downloads stop the plan with each file's URL (the runner's
    message): nothing is downloaded mid-screen."""
    folder = downloads(runtime)
    chai = runner()
    missing = chai.missing_downloads(folder, model.use_esm_embeddings)
    if missing:
        raise ConfigError(
            keyed_message(
                "runtime.chai1_downloads", chai.missing_downloads_message(folder, missing)
            )
        )
    digests = {name: checkpoint_sha256(folder / "models_v2" / name) for name in chai.COMPONENTS}
    identity = "chai1:" + "+".join(digest[:8] for digest in digests.values())
    if (folder / STAND_INS_MARKER).is_file():
        return Weights(
            identity=identity,
            released=False,
            note="generated Chai-1 stand-ins (tests/chai1_standins.py): the scores are meaningless",
            components_sha256=digests,
        )
    return Weights(
        identity=identity,
        released=True,
        note=f"Chai-1's downloads in {folder} (Chai publishes no digests: each component's "
        "sha256 is in the keys, not checked against a published one)",
        components_sha256=digests,
    )


def entities(receptor: ReceptorSpec, smiles: str) -> list[dict]:
    """A target's entities in the runner's shard file: each receptor chain copy (named by its
    chain id), then the screened ligand by SMILES. chai-lab names the chains A, B, ... in
    this order."""
    chains = [
        {"kind": ENTITY_KINDS[chain.type], "name": chain_id, "sequence": chain.sequence}
        for chain in receptor.chains
        for chain_id in chain.ids
    ]
    return [*chains, {"kind": "ligand", "name": LIGAND_ENTITY, "sequence": smiles}]


def ligand_chain(receptor: ReceptorSpec) -> str:
    """The screened ligand's chain letter in Chai-1's structures (chai-lab letters the entities
    A, B, ... in input order; `entities`)."""
    return chr(ord("A") + sum(len(chain.ids) for chain in receptor.chains))


def shard_document(
    targets: list[Target], receptor: ReceptorSpec, prediction: dict, device: str
) -> dict:
    """The runner's shard file (engines/chai1/runner.py) for `targets`, each under its key, with
    the settings of the plan's prediction spec (`keys.chai1_prediction_spec`)."""
    settings = dict(prediction["model"])
    seed = settings.pop("seed")
    return {
        "seed": seed,
        "settings": {"device": device, **settings},
        "targets": [{"id": t.key, "entities": entities(receptor, t.smiles)} for t in targets],
    }


def command(runtime: Runtime, shard: Path, output: Path) -> list[str]:
    """The runner's command line for one shard."""
    return [
        python(runtime),
        str(RUNNER),
        str(shard),
        str(output),
        "--downloads",
        str(downloads(runtime)),
    ]


def best_sample(scores: dict) -> dict:
    """The runner's best sample of a target (highest aggregate_score, as chai-lab ranks)."""
    return scores["samples"][scores["best_sample"]]


def record_scores(scores: dict) -> dict:
    """A target record's score fields from the runner's scores.json: the best sample's."""
    best = best_sample(scores)
    return {
        "aggregate_score": best["aggregate_score"],
        "ptm": best["ptm"],
        "iptm": best["iptm"],
        "per_chain_pair_iptm": best["per_chain_pair_iptm"],
        "has_inter_chain_clashes": bool(best["has_inter_chain_clashes"]),
    }


def failure_reason(runner_traceback: str) -> str:
    """A failed target's error from the runner's traceback: its last line, the exception."""
    lines = [line.strip() for line in runner_traceback.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "the Chai-1 runner gave no reason"


def failure_kind_of(error: str) -> str:
    """'permanent' or 'retryable' (omtx_hub.failures) for a target the runner failed, from its
    error (`failure_reason`): an entity chai-lab could not build (a SMILES RDKit cannot embed,
    a residue it has no conformer for), or an error Python raises for what a function was
    given, is the input's and raises again; device and memory errors, and the rest, may not."""
    if TRANSIENT_WORDS.search(error):
        return "retryable"
    if UNBUILT_ENTITY in error or error.split(":")[0] in DETERMINISTIC_ERRORS:
        return "permanent"
    return "retryable"


def read_scores(folder: Path) -> dict:
    """A finished target's scores.json (the runner writes the folder whole)."""
    return json.loads((folder / "scores.json").read_text())
