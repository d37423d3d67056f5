"""Any sheet size, any config location on Google Batch (issue 12, item 5).

Snakemake ships no source file over 10 MB to remote jobs; the jobs read their shard's spec
from the plan the planning process writes to the default storage, never the sheet. Same harness as
test_googlebatch.py: the real plugin, a fake Batch client that runs each job here, the GCS
emulator.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.records import TargetRecord
from omtx_hub.store import GCSStore
from omtx_hub.testing.synthetic import complex_cif
from tests.cloud import test_googlebatch as harness
from tests.cloud.test_googlebatch import FakeBatchService, run_snakemake
from tests.notify_server import webhook_receiver

# The harness's fixtures, used here by name.
gcs_client, gcs, checkout = harness.gcs_client, harness.gcs, harness.checkout

LIGANDS = 150_000
SHARD_SIZE = 100
CHAIN = range(1, 21)


def write_big_sheet(path: Path, count: int) -> None:
    """`count` distinct small amides, smallest first, with a catalogue-URL column as vendor
    sheets have: over 10 MB at 150,000 rows."""
    chains = itertools.islice(itertools.product(CHAIN, repeat=4), count)
    with open(path, "w") as handle:
        handle.write("name,smiles,catalogue_url\n")
        for number, (a, b, c, d) in enumerate(chains, 1):
            name = f"CPD-{number:07d}"
            smiles = f"{'C' * a}C(=O)N{'C' * b}CC(O){'C' * c}OC{'C' * d}"
            handle.write(f"{name},{smiles},https://vendor.example.com/catalogue/{name}\n")


def store_all_but_two(plan, store: GCSStore, shard: tuple[str, str], tmp_path: Path) -> None:
    """Commit every target of `shard` but its first two, as an earlier screen would have: the
    shard's job then predicts two targets, whatever the shard size."""
    structure = tmp_path / "structure.cif"
    structure.write_text(complex_cif())
    for target in plan.shard(*shard).targets[2:]:
        record = TargetRecord(
            key=target.key, status="completed", smiles=target.smiles, weights=plan.weights
        )
        store.commit(target.key, {"structure.cif": structure}, record.to_json())


def test_sheet_over_10_mb_reaches_remote_jobs_through_the_plan(
    checkout, monkeypatch, gcs, tmp_path, capfd
):
    sheet = checkout / "ligands.csv"
    write_big_sheet(sheet, LIGANDS)
    assert sheet.stat().st_size > 10_000_000
    subprocess.run(["git", "add", "ligands.csv"], check=True)  # tracked, yet not shipped
    # Shards of the default size: 1,500 of them, whose specs the planning process writes to
    # the bucket. (The GCS emulator slows down with every object it holds, quadratically:
    # shards of 2 would take it hours, a bucket minutes.)
    raw = yaml.safe_load((checkout / "screen.yaml").read_text())
    raw["sharding"] = {"shard_size": SHARD_SIZE}
    (checkout / "screen.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(raw | {"runtime": harness.CPU_RUNTIME})
    store = GCSStore(config.store)
    plan = build_plan(config, store)  # validates the 150,000 SMILES once, for both plans
    store_all_but_two(plan, store, ("P1", "00000"), tmp_path)
    batch = FakeBatchService(tmp_path / "vms", home=Path(os.environ["HOME"]))
    manifest = "results/s1/shards/P1/00000.json"
    with webhook_receiver() as (url, received):
        monkeypatch.setenv("OMTX_NOTIFY_URL", url)
        status = run_snakemake(monkeypatch, batch, manifest)
    output = capfd.readouterr()
    assert status == 0, "\n".join(batch.logs.values())[-5000:] + output.err[-3000:]
    assert "Skipping the source file for upload ligands.csv" in output.err + output.out

    assert len(batch.requests) == 1
    vm_workdir = next((tmp_path / "vms").iterdir()) / "workdir"
    assert (vm_workdir / "screen.yaml").is_file() and not (vm_workdir / "ligands.csv").exists()
    # The job executed its shard's spec from the plan the planning process wrote to the
    # bucket (omtx_hub.plan_artifact); the validated sheet stays in the result store.
    written = json.loads(gcs.blob("omtx-hub/results/s1/plan/plan.json").download_as_bytes())
    assert len(written["shards"]) == LIGANDS // SHARD_SIZE
    assert written["sheet"] == plan.sheet and gcs.get_blob(f"store/{plan.sheet}") is not None
    assert gcs.get_blob("omtx-hub/results/s1/plan/shards/P1/01499.json") is not None

    # The shard's progress is on the job's standard output, which Batch sends to Cloud Logging.
    (vm_output,) = batch.logs.values()
    assert f"omtx-hub shard P1/00000: {SHARD_SIZE} targets, {SHARD_SIZE - 2} in the store" in (
        vm_output
    )
    assert "omtx-hub shard P1/00000: 2/2 predicted, " in vm_output

    # The completion callback, from the main process only, pointing into the bucket.
    (message,) = (call["body"] for call in received)
    assert (message["status"], message["targets"], message["targets_in_store"]) == (
        "succeeded",
        LIGANDS,
        SHARD_SIZE,
    )
    assert message["dashboard"] == f"gs://{gcs.name}/omtx-hub/results/s1/report/index.html"
    assert message["counts"] is None  # only a shard was asked for: no summary.json

    result = json.loads(gcs.blob(f"omtx-hub/{manifest}").download_as_bytes())
    assert (result["targets"], result["computed"], result["reused"]) == (SHARD_SIZE, 2, 98)
    assert [r["ligands"][0]["ligand_id"] for r in result["records"][:2]] == [
        "CPD-0000001",
        "CPD-0000002",
    ]


def test_config_file_outside_the_checkout_is_refused(checkout, monkeypatch, tmp_path, capfd):
    outside = tmp_path / "elsewhere" / "screen.yaml"
    outside.parent.mkdir()
    shutil.copyfile(checkout / "screen.yaml", outside)
    batch = FakeBatchService()
    assert run_snakemake(monkeypatch, batch, configfile=str(outside)) != 0
    assert batch.requests == []
    captured = capfd.readouterr()
    assert f"config file '{outside}' is outside {checkout}" in captured.out + captured.err


def test_untracked_sheet_is_fine_untracked_msa_is_not(checkout, monkeypatch, capfd):
    subprocess.run(["git", "rm", "-q", "--cached", "ligands.csv"], check=True)
    (checkout / "P1.a3m").write_text(">P1\nMKTAYIAKQRQISFVKSHFS\n")
    raw = yaml.safe_load((checkout / "screen.yaml").read_text())
    raw["proteins"][0]["msa"] = "P1.a3m"
    (checkout / "screen.yaml").write_text(yaml.safe_dump(raw))
    batch = FakeBatchService()
    assert run_snakemake(monkeypatch, batch) != 0
    assert batch.requests == []
    captured = capfd.readouterr()
    assert "git add P1.a3m" in captured.out + captured.err
    assert "ligands.csv" not in captured.out + captured.err
