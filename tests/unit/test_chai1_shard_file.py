"""engines/chai1/runner.py's reading of a shard file and of the downloads folder, which need no
chai-lab (it is imported only to predict): these run in the project's environment. The runner's
predictions are tested in the Chai-1 environment (tests/engines/test_chai1_runner.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("chai1_runner", REPO / "engines/chai1/runner.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

SETTINGS = {
    "device": "cpu",
    "use_esm_embeddings": False,
    "num_trunk_recycles": 3,
    "num_diffn_timesteps": 200,
    "num_diffn_samples": 5,
}
PROTEIN = {"kind": "protein", "name": "A", "sequence": "MKTAYIAK"}
LIGAND = {"kind": "ligand", "name": "LIG", "sequence": "CCO"}


def shard_file(tmp_path: Path, shard: object) -> Path:
    path = tmp_path / "shard.json"
    path.write_text(json.dumps(shard))
    return path


def a_shard(**changes) -> dict:
    target = {"id": "T1", "entities": [PROTEIN, LIGAND]}
    return {"seed": 42, "settings": SETTINGS, "targets": [target], **changes}


def test_a_well_formed_shard_is_read(tmp_path):
    assert runner.read_shard(shard_file(tmp_path, a_shard())) == a_shard()


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ({"seed": 42, "targets": []}, "an object with seed, settings, targets"),
        (a_shard(seed="42"), "seed must be an integer"),
        (a_shard(settings={**SETTINGS, "device": None}), "settings.device must be str"),
        (a_shard(settings={"device": "cpu"}), "settings must have exactly the keys"),
        (a_shard(targets=[]), "targets must be a non-empty list"),
        (a_shard(targets=[{"id": "../x", "entities": [PROTEIN]}]), "targets[0].id: '../x'"),
        (
            a_shard(targets=[{"id": "T", "entities": [PROTEIN]}] * 2),
            "targets[1].id: 'T' comes twice",
        ),
        (a_shard(targets=[{"id": "T", "entities": []}]), "targets[0].entities: a non-empty"),
        (
            a_shard(targets=[{"id": "T", "entities": [PROTEIN, {**LIGAND, "kind": "smiles"}]}]),
            "targets[0].entities[1].kind: 'smiles' is not one of",
        ),
        (
            a_shard(targets=[{"id": "T", "entities": [PROTEIN, {**LIGAND, "name": "A"}]}]),
            "targets[0].entities[1].name: 'A' is not a unique name",
        ),
        (
            a_shard(targets=[{"id": "T", "entities": [{**PROTEIN, "sequence": " "}]}]),
            "targets[0].entities[0].sequence: a sequence",
        ),
    ],
)
def test_a_malformed_shard_is_refused_naming_the_place(tmp_path, shard, message):
    with pytest.raises(runner.ShardError) as refused:
        runner.read_shard(shard_file(tmp_path, shard))
    assert message in str(refused.value)


def test_a_shard_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "shard.json"
    path.write_text("{")
    with pytest.raises(runner.ShardError, match="cannot read the shard as JSON"):
        runner.read_shard(path)


def test_entities_become_chai_lab_fasta():
    assert (
        runner.fasta_text([PROTEIN, LIGAND]) == ">protein|name=A\nMKTAYIAK\n>ligand|name=LIG\nCCO\n"
    )


def test_missing_downloads_name_each_file_and_its_url(tmp_path):
    (tmp_path / "models_v2").mkdir()
    (tmp_path / "models_v2" / "trunk.pt").write_bytes(b"weights")
    (tmp_path / "conformers_v1.apkl").write_bytes(b"")  # an empty file is missing too
    missing = runner.missing_downloads(tmp_path, use_esm=True)
    assert "models_v2/trunk.pt" not in missing
    assert "conformers_v1.apkl" in missing
    message = runner.missing_downloads_message(tmp_path, missing)
    assets = "https://chaiassets.com/chai1-inference-depencencies"
    assert f"{assets}/models_v2/confidence_head.pt -> {tmp_path}/models_v2/confidence_head.pt" in (
        message
    )
    # chai-lab serves ESM from esm2/ and keeps it in esm/ (chai_lab/.../embeddings/esm.py).
    esm = "traced_sdpa_esm2_t36_3B_UR50D_fp16.pt"
    assert f"{assets}/esm2/{esm} -> {tmp_path}/esm/{esm}" in message
    assert runner.ESM_FILE not in runner.missing_downloads(tmp_path, use_esm=False)
