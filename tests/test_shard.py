"""One shard on the real Boltz path, outside Snakemake: a ligand Boltz cannot process is
reported as failed with Boltz's reason (Boltz itself exits 0), the others complete."""

from __future__ import annotations

import pytest

from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.predict import ShardJob
from omtx_hub.store import LocalStore
from tests.screens import write_screen
from tests.test_workflow import FAST_MODEL, runtime

pytestmark = pytest.mark.slow


def test_unprocessable_ligand_fails_alone(tmp_path, boltz_test_cache):
    # Cyclohexyne is valid SMILES, but RDKit cannot embed it in 3D: Boltz skips it.
    rows = [("ethanol", "CCO"), ("cyclohexyne", "C1#CCCCC1")]
    raw = write_screen(tmp_path, rows=rows, model=FAST_MODEL, runtime=runtime(boltz_test_cache))
    config = load_config(raw)
    store = LocalStore(config.store)
    plan = build_plan(config, store)
    shard = plan.shard("P1", "00000")
    manifest = ShardJob(
        screen="s1", protein="P1", shard="00000", sequence=config.proteins[0].sequence,
        msa="empty", targets=list(shard.targets), model=config.model, runtime=config.runtime,
        spec=plan.spec, weights=plan.weights.__dict__, store=store,
        structures_dir=tmp_path / "structures", manifest=tmp_path / "manifest.json",
        log_file=tmp_path / "job.log",
    ).run()  # fmt: skip
    ethanol, cyclohexyne = manifest["records"]
    assert ethanol["status"] == "completed" and ethanol["runtime_s"] > 0
    assert cyclohexyne["status"] == "failed"
    assert "conformer" in cyclohexyne["error"]
    assert (manifest["computed"], manifest["failed"]) == (1, 1)
    # Failures are not stored: a later run tries again.
    assert store.has(ethanol["key"]) and not store.has(cyclohexyne["key"])
    assert [p.name for p in (tmp_path / "structures").iterdir()] == ["s1_P1_1_ethanol.cif"]
    assert "----- boltz predict output -----" in (tmp_path / "job.log").read_text()
