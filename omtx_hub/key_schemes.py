"""Result stores written under an older cache-key scheme: recognised, never mixed in, reported.

A key names its scheme (`keys.KEY_SCHEME`), so an entry keyed under another scheme can never
be taken for a target of this one; it is simply not found, and the target is predicted again.
What this module adds is the explanation: the store keeps a marker per scheme it has been
used with (`key-schemes/<n>.json`), and when a store that held entries before this scheme was
first used with it runs a screen, the screen's terminal and log say how many of its targets
the store has under an older scheme, and why they are predicted again.

Older schemes whose keys can be computed from a config:
- 1: keys before the scheme was versioned (omtx-hub up to commit be2998e): a server MSA keyed
  by its server URL and pairing strategy, not its content; the weights as the fixed name
  `boltz2-released`, `test-cache:<marker>` or `checkpoints:<sha256 prefixes>`; every `model`
  setting, also those that cannot change a prediction.
Keys from before per-target seeding (no `seeding` entry) are not recognised; they are not
reused either.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from omtx_hub.boltz_cache import TEST_WEIGHTS_MARKER, cache_directory, is_test_cache
from omtx_hub.fileio import sha256_file
from omtx_hub.keys import KEY_SCHEME, SEEDING_SCHEME, receptor_digest, spec_digest, target_key
from omtx_hub.plan import Plan
from omtx_hub.store import ResultStore
from omtx_hub.store_layout import scheme_marker_path

# The `model` settings scheme 1 dumped into its keys, in its order.
SCHEME_1_MODEL_FIELDS = (
    "recycling_steps",
    "sampling_steps",
    "diffusion_samples",
    "step_scale",
    "max_parallel_samples",
    "affinity",
    "sampling_steps_affinity",
    "diffusion_samples_affinity",
    "affinity_mw_correction",
    "use_potentials",
    "seed",
)
WHY_SCHEME_2 = (
    "scheme 2 keys contain the MSA's content (not the MSA server's address) and the "
    "checkpoint files' sha256 (not a fixed name), and leave out settings that cannot change "
    "a prediction"
)


def _scheme_1_weights(plan: Plan) -> str:
    runtime = plan.config.runtime
    checkpoints = [c for c in (runtime.checkpoint, runtime.affinity_checkpoint) if c]
    if checkpoints:
        return "checkpoints:" + ",".join(
            sha256_file(Path(c).expanduser())[:16] for c in checkpoints
        )
    if is_test_cache(runtime.cache):
        marker = cache_directory(runtime.cache) / TEST_WEIGHTS_MARKER
        return f"test-cache:{hashlib.sha256(marker.read_bytes()).hexdigest()[:16]}"
    return "boltz2-released"


def _scheme_1_msa(plan: Plan, name: str) -> str:
    protein = plan.protein(name)
    if protein.msa == "empty":
        return "empty"
    if protein.msa == "server":
        runtime = plan.config.runtime
        return f"server:{runtime.msa_server_url}:{runtime.msa_pairing_strategy}"
    return f"file:{sha256_file(protein.msa)}"


def scheme_1_keys(plan: Plan) -> dict[str, str]:
    """The scheme-1 key of each of the plan's targets: key -> scheme-1 key."""
    config = plan.config
    spec = {
        "boltz": version("boltz"),
        "model": config.model.model_dump(mode="json", include=set(SCHEME_1_MODEL_FIELDS)),
        "precision": config.runtime.precision,
        "weights": _scheme_1_weights(plan),
        "seeding": SEEDING_SCHEME,
    }
    scheme_1_spec = spec_digest(spec)
    # Scheme 1 knew single-chain proteins only (the `sequence` shorthand), whose receptor
    # digest is sequence and MSA, as it was then.
    digests = {
        protein.name: receptor_digest(
            protein.receptor, {"A": _scheme_1_msa(plan, protein.name)}, []
        )
        for protein in config.proteins
        if protein.receptor.is_shorthand
    }
    return {
        target.key: target_key(scheme_1_spec, digests[target.protein], target.smiles)
        for target in plan.targets()
        # Scheme 1 knew no replicates (its keys are those of replicate 0, `model.seed`) and no
        # ligands by CCD code.
        if target.protein in digests and not target.replicate and target.ccd is None
    }


def _holds_entries(store: ResultStore) -> bool:
    """Whether the store has any entry (stops at the first non-empty fan-out directory)."""
    return any(store.keys_in(f"{prefix:02x}") for prefix in range(256))


def older_entries_possible(store: ResultStore) -> bool:
    """Whether the store may hold entries of an older scheme: it held entries when it was
    first used with this one. Recorded in the scheme's marker on first use."""
    marker = store.read_blob(scheme_marker_path(KEY_SCHEME))
    if marker is not None:
        return json.loads(marker)["older_entries_possible"]
    possible = _holds_entries(store)
    record = {
        "scheme": KEY_SCHEME,
        "first_used_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "older_entries_possible": possible,
    }
    store.write_blob(scheme_marker_path(KEY_SCHEME), json.dumps(record, indent=1).encode())
    return possible


def older_scheme_report(plan: Plan, store: ResultStore) -> str | None:
    """What the run must say about its targets stored under an older scheme, or None."""
    if not older_entries_possible(store):
        return None
    old_keys = scheme_1_keys(plan)
    stored_old = store.stored(old_keys.values())
    stored_now = store.stored(old_keys) if stored_old else frozenset()
    only_old = [key for key, old in old_keys.items() if old in stored_old and key not in stored_now]
    if not only_old:
        return None
    return (
        f"{len(only_old)} of this screen's {len(old_keys)} targets are in the result store "
        f"{store.location} only under key scheme 1, written by an earlier omtx-hub; they are "
        f"not reused but predicted again under key scheme {KEY_SCHEME}: {WHY_SCHEME_2}."
    )
