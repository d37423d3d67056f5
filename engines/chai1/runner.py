"""Run one shard of Chai-1 predictions in the Chai-1 environment (`make chai1`).

    .chai1/bin/python engines/chai1/runner.py SHARD_JSON OUTPUT_DIR --downloads DIR

This runs inside chai-lab 0.6.1's own environment, so it imports nothing from omtx_hub: the
shard is a JSON file, the results are files.

SHARD_JSON:
    {"seed": 42,
     "settings": {"device": "cpu", "use_esm_embeddings": true, "num_trunk_recycles": 3,
                  "num_diffn_timesteps": 200, "num_diffn_samples": 5},
     "targets": [{"id": "T1", "entities": [
         {"kind": "protein", "name": "A", "sequence": "MKT..."},
         {"kind": "ligand", "name": "LIG", "sequence": "CC(=O)Oc1ccccc1C(=O)O"}]}]}
An entity is a line pair of chai-lab's FASTA input: `kind` is protein, ligand, dna or rna, and
a ligand's `sequence` is its SMILES.

OUTPUT_DIR/<id>/ per finished target (renamed into place whole, so it is there only when
complete; a target whose folder exists is not run again): chai-lab's own outputs,
pred.model_idx_<i>.cif and scores.model_idx_<i>.npz per diffusion sample, and scores.json with
every sample's aggregate_score, ptm, iptm, per_chain_ptm, per_chain_pair_iptm,
has_inter_chain_clashes and chain_chain_clashes, the best sample (highest aggregate_score, as
chai-lab ranks), and which input entity each chain letter holds.
OUTPUT_DIR/shard.json: which targets finished (and in how many seconds), were already there,
or failed and why, and how many times a model component was loaded from disk. The exit status
is 1 when any target failed (the others' results stand), 2 when the shard, the downloads or the
device are not usable.

--downloads defaults to $CHAI_DOWNLOADS_DIR (the Chai-1 image sets it to its mounted weights
folder). A CUDA device that torch cannot see ends the shard before any work (exit 2, "torch sees
no CUDA device", the words Google Batch runs treat as a failure not worth retrying): on a GPU
job the CPU is never a fallback, and chai-lab would otherwise fail every target one by one.

Per shard, chai-lab 0.6.1 would reload its six TorchScript components from disk on every
target (chai_lab/chai1.py, run_folding_on_context) and re-read the conformer cache
(chai_lab/data/dataset/inference_dataset.py, load_chains_from_raw): here each is loaded once
and kept. On a GPU that keeps all six on the device at once, where chai-lab frees the trunk
before diffusion: peak GPU memory is higher than chai-lab's own (not yet measured).

Every target is seeded with the shard's seed before its features are built (chai-lab seeds
only when folding starts, and featurisation draws random numbers before that), so its result
does not depend on which targets ran before it in the process.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import sys
import time
import traceback
from pathlib import Path

SETTINGS = {
    "device": str,
    "use_esm_embeddings": bool,
    "num_trunk_recycles": int,
    "num_diffn_timesteps": int,
    "num_diffn_samples": int,
}
ENTITY_KINDS = ("protein", "ligand", "dna", "rna")
TARGET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ENTITY_NAME = re.compile(r"[A-Za-z0-9_-]+")
COMPONENTS = (
    "feature_embedding.pt",
    "bond_loss_input_proj.pt",
    "token_embedder.pt",
    "trunk.pt",
    "diffusion_module.pt",
    "confidence_head.pt",
)
ESM_FILE = "esm/traced_sdpa_esm2_t36_3B_UR50D_fp16.pt"
ASSETS_URL = "https://chaiassets.com/chai1-inference-depencencies"


class ShardError(ValueError):
    """The shard file is not what this runner reads; the message names the place."""


def read_shard(path: Path) -> dict:
    try:
        shard = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ShardError(f"{path}: cannot read the shard as JSON: {error}") from error
    if not isinstance(shard, dict) or set(shard) != {"seed", "settings", "targets"}:
        raise ShardError(f"{path}: the shard must be an object with seed, settings, targets")
    if type(shard["seed"]) is not int:
        raise ShardError(f"{path}: seed must be an integer, not {shard['seed']!r}")
    settings = shard["settings"]
    if not isinstance(settings, dict) or set(settings) != set(SETTINGS):
        raise ShardError(f"{path}: settings must have exactly the keys {sorted(SETTINGS)}")
    for key, kind in SETTINGS.items():
        if type(settings[key]) is not kind:
            raise ShardError(f"{path}: settings.{key} must be {kind.__name__}")
    if not isinstance(shard["targets"], list) or not shard["targets"]:
        raise ShardError(f"{path}: targets must be a non-empty list")
    seen: set[str] = set()
    for index, target in enumerate(shard["targets"]):
        read_target(target, f"{path}: targets[{index}]", seen)
    return shard


def read_target(target: object, where: str, seen: set[str]) -> None:
    if not isinstance(target, dict) or set(target) != {"id", "entities"}:
        raise ShardError(f"{where}: a target is an object with id and entities")
    target_id = target["id"]
    if not isinstance(target_id, str) or not TARGET_ID.fullmatch(target_id):
        raise ShardError(f"{where}.id: {target_id!r} is not a name of letters, digits, ._-")
    if target_id in seen:
        raise ShardError(f"{where}.id: {target_id!r} comes twice in the shard")
    seen.add(target_id)
    entities = target["entities"]
    if not isinstance(entities, list) or not entities:
        raise ShardError(f"{where}.entities: a non-empty list of entities is needed")
    names: set[str] = set()
    for index, entity in enumerate(entities):
        at = f"{where}.entities[{index}]"
        if not isinstance(entity, dict) or set(entity) != {"kind", "name", "sequence"}:
            raise ShardError(f"{at}: an entity is an object with kind, name, sequence")
        if entity["kind"] not in ENTITY_KINDS:
            raise ShardError(f"{at}.kind: {entity['kind']!r} is not one of {ENTITY_KINDS}")
        name = entity["name"]
        if not isinstance(name, str) or not ENTITY_NAME.fullmatch(name) or name in names:
            raise ShardError(f"{at}.name: {name!r} is not a unique name of letters, digits, _-")
        names.add(name)
        if not isinstance(entity["sequence"], str) or not entity["sequence"].strip():
            raise ShardError(f"{at}.sequence: a sequence (a SMILES for a ligand) is needed")


def missing_downloads(downloads: Path, use_esm: bool) -> list[str]:
    needed = ["conformers_v1.apkl", *(f"models_v2/{name}" for name in COMPONENTS)]
    if use_esm:
        needed.append(ESM_FILE)
    return [name for name in needed if not _non_empty(downloads / name)]


def _non_empty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def missing_downloads_message(downloads: Path, missing: list[str]) -> str:
    # chai-lab names the ESM file esm/... locally but serves it from esm2/... (esm.py).
    urls = [
        f"  {ASSETS_URL}/{name.replace('esm/', 'esm2/', 1)} -> {downloads / name}"
        for name in missing
    ]
    return (
        f"Chai-1's weights are missing from {downloads}. chai-lab downloads them from Chai's "
        "asset server at first use; this runner does not download mid-screen. Fetch them on a "
        "machine that can reach the server (or copy an existing chai-lab downloads folder) "
        "into the folder given as --downloads:\n" + "\n".join(urls)
    )


def unusable_device(device: str) -> str | None:
    """Why `device` cannot run the shard here, or None; only a CUDA device is checked."""
    import torch

    try:
        wanted = torch.device(device)
    except RuntimeError as error:
        return f"settings.device {device!r} is not a torch device (cpu, cuda, cuda:0): {error}"
    if wanted.type != "cuda":
        return None
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if (wanted.index or 0) < count:
        return None
    return (
        f"settings.device is {device!r} but torch sees no CUDA device {device!r} "
        f"({count} visible; torch {torch.__version__} built for CUDA {torch.version.cuda}; "
        f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '(unset)')}). "
        "Nothing was predicted."
    )


def fasta_text(entities: list[dict]) -> str:
    return "".join(f">{e['kind']}|name={e['name']}\n{e['sequence'].strip()}\n" for e in entities)


def load_components_once() -> None:
    """Keep chai-lab's components and conformer cache for the process instead of reloading them
    per target (chai-lab 0.6.1 looks both up as module globals at each call)."""
    import chai_lab.chai1
    import chai_lab.data.dataset.inference_dataset as inference_dataset

    chai_lab.chai1.load_exported = functools.cache(chai_lab.chai1.load_exported)
    inference_dataset.RefConformerGenerator = functools.cache(
        inference_dataset.RefConformerGenerator
    )


def run_target(target: dict, seed: int, settings: dict, work: Path) -> dict:
    """chai-lab's run_inference for one trunk sample (chai1.py), with the entity check and the
    early seeding added; returns scores.json's content. Outputs land in work/prediction."""
    import numpy as np
    import torch
    from chai_lab.chai1 import make_all_atom_feature_context, run_folding_on_context
    from chai_lab.utils.tensor_utils import set_seed

    fasta = work / "input.fasta"
    fasta.write_text(fasta_text(target["entities"]))
    device = torch.device(settings["device"])
    set_seed([seed])
    context = make_all_atom_feature_context(
        fasta,
        output_dir=work / "features",
        use_esm_embeddings=settings["use_esm_embeddings"],
        esm_device=device,
    )
    # chai-lab drops an entity it cannot tokenise (a residue missing from the conformer cache,
    # a SMILES RDKit cannot embed) with a logged exception and predicts the rest.
    kept = [chain.entity_data.entity_name for chain in context.chains]
    given = [entity["name"] for entity in target["entities"]]
    if kept != given:
        dropped = [name for name in given if name not in kept]
        raise RuntimeError(f"chai-lab could not build entities {dropped} (its log says why)")
    prediction = work / "prediction"
    run_folding_on_context(
        context,
        output_dir=prediction,
        num_trunk_recycles=settings["num_trunk_recycles"],
        num_diffn_timesteps=settings["num_diffn_timesteps"],
        num_diffn_samples=settings["num_diffn_samples"],
        seed=seed,
        device=device,
        low_memory=True,  # run_inference's default
    )
    samples = []
    for index in range(settings["num_diffn_samples"]):
        with np.load(prediction / f"scores.model_idx_{index}.npz") as npz:
            scores = {key: npz[key][0].tolist() for key in npz.files}
        samples.append({"cif": f"pred.model_idx_{index}.cif", **scores})
    best = max(range(len(samples)), key=lambda i: samples[i]["aggregate_score"])
    chains = {chr(ord("A") + i): entity for i, entity in enumerate(target["entities"])}
    return {
        "target": target["id"],
        "seed": seed,
        "chai_lab_version": chai_lab_version(),
        "chains": {letter: {"name": e["name"], "kind": e["kind"]} for letter, e in chains.items()},
        "best_sample": best,
        "samples": samples,
    }


def chai_lab_version() -> str:
    import chai_lab

    return chai_lab.__version__


def component_loads() -> int:
    """How many times this process has loaded a component from disk."""
    import chai_lab.chai1

    return chai_lab.chai1.load_exported.cache_info().misses


def run_shard(shard: dict, output: Path) -> dict:
    load_components_once()
    report: dict[str, object] = {"finished": [], "already_there": [], "failed": {}, "seconds": {}}
    for target in shard["targets"]:
        started = time.monotonic()
        final = output / target["id"]
        if final.is_dir():
            report["already_there"].append(target["id"])
            continue
        work = output / f".{target['id']}.partial"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            scores = run_target(target, shard["seed"], shard["settings"], work)
        except Exception:  # one target's failure must not cost its shard-mates' results
            report["failed"][target["id"]] = traceback.format_exc(limit=-3)
            print(f"chai1 target {target['id']} failed:\n{report['failed'][target['id']]}")
            shutil.rmtree(work, ignore_errors=True)
            continue
        prediction = work / "prediction"
        (prediction / "scores.json").write_text(json.dumps(scores, indent=1) + "\n")
        prediction.rename(final)
        shutil.rmtree(work)
        report["finished"].append(target["id"])
        report["seconds"][target["id"]] = round(time.monotonic() - started, 1)
    report["component_loads"] = component_loads()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shard", type=Path, help="the shard's JSON file")
    parser.add_argument("output", type=Path, help="the folder that receives one folder per target")
    downloads = os.environ.get("CHAI_DOWNLOADS_DIR")
    parser.add_argument(
        "--downloads",
        type=Path,
        default=downloads,
        required=not downloads,
        help="chai-lab's downloads folder (weights, conformer cache); default: $CHAI_DOWNLOADS_DIR",
    )
    args = parser.parse_args(argv)
    try:
        shard = read_shard(args.shard)
    except ShardError as error:
        print(error, file=sys.stderr)
        return 2
    device_problem = unusable_device(shard["settings"]["device"])
    if device_problem:
        print(device_problem, file=sys.stderr)
        return 2
    missing = missing_downloads(args.downloads, shard["settings"]["use_esm_embeddings"])
    if missing:
        print(missing_downloads_message(args.downloads, missing), file=sys.stderr)
        return 2
    # chai-lab reads CHAI_DOWNLOADS_DIR once, when chai_lab.utils.paths is first imported.
    os.environ["CHAI_DOWNLOADS_DIR"] = str(args.downloads.resolve())
    args.output.mkdir(parents=True, exist_ok=True)
    report = run_shard(shard, args.output)
    (args.output / "shard.json").write_text(json.dumps(report, indent=1) + "\n")
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
