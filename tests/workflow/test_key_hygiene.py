"""A setting left out of the key cannot change a prediction, on the real Boltz path (CPU, fp32,
test weights): `max_parallel_samples` only says how many diffusion samples one forward pass
denoises. Boltz draws every sample's noise before the passes (diffusionv2.py,
AtomDiffusion.sample) and splits the samples into `multiplicity % max_parallel_samples + 1`
chunks, so with two samples a value of 1 denoises both in one pass and 3 one at a time."""

from __future__ import annotations

import pytest

from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.records import SCORE_FIELDS
from omtx_hub.store import LocalStore
from tests.screens import FAST_MODEL, runtime, shard_job, write_screen

pytestmark = pytest.mark.boltz


def test_max_parallel_samples_keeps_key_and_prediction(boltz_test_cache, tmp_path):
    outcomes = []
    for max_parallel in (1, 3):
        directory = tmp_path / f"max-parallel-{max_parallel}"
        directory.mkdir()
        model = {**FAST_MODEL, "diffusion_samples": 2, "max_parallel_samples": max_parallel}
        raw = write_screen(
            directory,
            rows=[("ibuprofen", "CC(C)Cc1ccc(cc1)C(C)C(=O)O")],
            model=model,
            runtime=runtime(boltz_test_cache),
        )
        config = load_config(raw)
        store = LocalStore(config.store)
        plan = build_plan(config, store)
        manifest = shard_job(config, plan, store, directory, "P1", "00000").run()
        (entry,) = manifest.records
        assert entry.status == "completed", entry.error
        stored = {}
        for name in ("structure.cif", "confidence.json"):
            store.fetch(entry.key, name, directory / name)
            stored[name] = (directory / name).read_bytes()
        scores = {field: getattr(entry, field) for field in SCORE_FIELDS}
        outcomes.append({"key": entry.key, "scores": scores, "files": stored})
    assert outcomes[0] == outcomes[1]
