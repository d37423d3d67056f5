"""The typed contracts: the fields on disk, the short form of a failure, old files."""

import json

from omtx_hub.records import (
    SCORE_FIELDS,
    ManifestEntry,
    ShardManifest,
    TargetRecord,
    Weights,
    read_manifest,
    write_manifest,
)

WEIGHTS = Weights(identity="boltz2-released", released=True, note="released Boltz-2 weights")
LIGANDS = [{"index": 1, "ligand_id": "ethanol", "name": "ethanol"}]


def test_every_score_is_a_record_field():
    assert set(SCORE_FIELDS) <= set(TargetRecord.model_fields)


def test_a_failed_record_is_written_in_its_short_form():
    record = TargetRecord(key="k", status="failed", error="boom", smiles="CCO", weights=WEIGHTS)
    assert record.to_json() == {
        "key": "k",
        "status": "failed",
        "error": "boom",
        "smiles": "CCO",
        "weights": {
            "identity": "boltz2-released",
            "released": True,
            "note": "released Boltz-2 weights",
        },
    }


def test_an_entry_adds_the_screens_view_to_the_stored_record():
    record = TargetRecord(key="k", status="completed", smiles="CCO", ptm=0.5, weights=WEIGHTS)
    entry = ManifestEntry.of(record, protein="P1", ligands=LIGANDS, source="reused", runtime_s=0.0)
    assert entry.to_json() == {
        **record.to_json(),
        "protein": "P1",
        "ligands": LIGANDS,
        "source": "reused",
        "runtime_s": 0.0,
    }


def test_a_manifest_round_trips_and_an_older_one_without_finished_at_reads(tmp_path):
    record = {
        "key": "k",
        "status": "completed",
        "smiles": "CCO",
        "weights": WEIGHTS.to_json(),
        "protein": "P1",
        "ligands": LIGANDS,
        "source": "computed",
        "structures": {"ethanol": "s1_P1_1_ethanol.cif"},
    }
    older = {
        "screen": "s1",
        "protein": "P1",
        "shard": "00000",
        "targets": 1,
        "reused": 0,
        "computed": 1,
        "failed": 0,
        "boltz_wall_s": 1.0,
        "job_wall_s": 2.0,
        "records": [record],
    }
    path = tmp_path / "00000.json"
    path.write_text(json.dumps(older))
    manifest = read_manifest(path)
    assert manifest.finished_at is None and manifest.records[0].structures == {
        "ethanol": "s1_P1_1_ethanol.cif"
    }
    write_manifest(manifest, path)
    assert json.loads(path.read_text()) == older
    assert manifest.totals().to_json() == {k: v for k, v in older.items() if k != "records"}
    assert ShardManifest.model_validate(older) == manifest


def test_a_record_stored_before_the_affinity_heads_were_kept_reads():
    older = {
        "key": "k",
        "status": "completed",
        "affinity_pred_value": -1.0,
        "affinity_probability_binary": 0.9,
        "weights": WEIGHTS.to_json(),
    }
    record = TargetRecord.model_validate(older)
    assert record.affinity_pred_value1 is None and record.affinity_probability_binary2 is None
    assert record.to_json() == older  # rewritten unchanged, no invented heads
    with_heads = TargetRecord.model_validate(older | {"affinity_pred_value1": -1.1})
    assert with_heads.to_json()["affinity_pred_value1"] == -1.1
