"""engines/chai1/runner.py runs chai-lab 0.6.1's real code path (featurisation, ESM, trunk
recycles, diffusion sampling, confidence ranking, CIF writing) in the Chai-1 environment, on
the stand-ins tests/chai1_standins.py generates. Marked `chai1`: it needs `make chai1`, which
`make test` builds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import gemmi
import pytest

pytestmark = pytest.mark.chai1

REPO = Path(__file__).resolve().parents[2]
CHAI1_PYTHON = REPO / ".chai1" / "bin" / "python"
RUNNER = REPO / "engines" / "chai1" / "runner.py"
BOUND_S = 600  # hang protection for one chai1 process on a busy 2-core machine

SETTINGS = {
    "device": "cpu",
    "use_esm_embeddings": True,
    "num_trunk_recycles": 2,
    "num_diffn_timesteps": 6,
    "num_diffn_samples": 2,
}
ASPIRIN = {"kind": "ligand", "name": "LIG", "sequence": "CC(=O)Oc1ccccc1C(=O)O"}
PHENOL = {"kind": "ligand", "name": "PHE_OH", "sequence": "c1ccccc1O"}
KINASE = {
    "id": "kinase",
    "entities": [{"kind": "protein", "name": "A", "sequence": "MKTAYIAKQRQISFVK"}, ASPIRIN],
}
# SEP (phosphoserine): chai-lab turns it at random while building features, before it seeds.
PHOSPHO = {
    "id": "phospho",
    "entities": [{"kind": "protein", "name": "A", "sequence": "GSH(SEP)WEVLK"}, PHENOL],
}
BROKEN = {
    "id": "broken",
    "entities": [
        {"kind": "protein", "name": "A", "sequence": "MKT"},
        {**PHENOL, "sequence": "C1CC"},
    ],
}
HEAVY_ATOMS = {"kinase": 13, "phospho": 7}


def chai1_python() -> Path:
    if not CHAI1_PYTHON.exists():
        pytest.fail(
            f"The Chai-1 environment is missing ({CHAI1_PYTHON}). Build it with `make chai1` "
            "(about 3.1 GB from PyPI), then rerun `pytest -m chai1`."
        )
    return CHAI1_PYTHON


def run(args: list, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(chai1_python()), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=BOUND_S,
    )


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("chai1-downloads")
    done = run([REPO / "tests" / "chai1_standins.py", folder], cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def test_the_stand_ins_are_the_same_bytes_each_time(downloads, tmp_path):
    done = run([REPO / "tests" / "chai1_standins.py", tmp_path], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = sorted(p.relative_to(downloads) for p in downloads.rglob("*") if p.is_file())
    assert len(files) == 9  # six components, ESM, the conformer cache, the stand-ins marker
    for name in files:
        assert (tmp_path / name).read_bytes() == (downloads / name).read_bytes(), name


def run_shard(tmp: Path, name: str, targets: list[dict], downloads: Path):
    shard = tmp / f"{name}.json"
    shard.write_text(json.dumps({"seed": 7, "settings": SETTINGS, "targets": targets}))
    output = tmp / name
    done = run([RUNNER, shard, output, "--downloads", downloads], cwd=tmp)
    return done, output


@pytest.fixture(scope="module")
def shards(tmp_path_factory, downloads) -> dict:
    tmp = tmp_path_factory.mktemp("chai1-shards")
    return {
        "mates": run_shard(tmp, "mates", [KINASE, BROKEN, PHOSPHO], downloads),
        "alone": run_shard(tmp, "alone", [PHOSPHO], downloads),
    }


def test_a_shard_predicts_every_target_and_isolates_the_failing_one(shards):
    done, output = shards["mates"]
    assert done.returncode == 1, done.stderr  # one target failed
    report = json.loads((output / "shard.json").read_text())
    assert report["finished"] == ["kinase", "phospho"]
    # chai-lab drops an entity it cannot build and predicts the rest; the runner refuses that.
    assert list(report["failed"]) == ["broken"]
    assert "could not build entities ['PHE_OH']" in report["failed"]["broken"]
    assert not (output / "broken").exists()
    assert sorted(p.name for p in output.iterdir()) == ["kinase", "phospho", "shard.json"]


def test_model_components_are_loaded_once_per_shard(shards):
    _, output = shards["mates"]
    report = json.loads((output / "shard.json").read_text())
    assert report["component_loads"] == 6  # three targets, six components, each loaded once


@pytest.mark.parametrize("target", ["kinase", "phospho"])
def test_each_target_has_a_structure_with_its_ligand_and_scores_in_range(shards, target):
    _, output = shards["mates"]
    scores = json.loads((output / target / "scores.json").read_text())
    assert scores["chai_lab_version"] == "0.6.1"
    assert scores["chains"]["A"]["kind"] == "protein"
    assert scores["chains"]["B"]["kind"] == "ligand"
    assert len(scores["samples"]) == SETTINGS["num_diffn_samples"]
    for sample in scores["samples"]:
        for key in ("ptm", "iptm"):
            assert 0.0 <= sample[key] <= 1.0
        assert sample["has_inter_chain_clashes"] is False
        assert len(sample["per_chain_pair_iptm"]) == 2
        assert all(0.0 <= v <= 1.0 for row in sample["per_chain_pair_iptm"] for v in row)
        # chai-lab's ranking: 0.2 pTM + 0.8 ipTM - 100 * clash (ranking/rank.py)
        aggregate = 0.2 * sample["ptm"] + 0.8 * sample["iptm"]
        assert sample["aggregate_score"] == pytest.approx(aggregate, abs=1e-6)
    best = scores["samples"][scores["best_sample"]]
    structure = gemmi.read_structure(str(output / target / best["cif"]))
    chains = {chain.name: chain for chain in structure[0]}
    assert sorted(chains) == ["A", "B"]
    ligand_atoms = [atom for residue in chains["B"] for atom in residue]
    assert len(ligand_atoms) == HEAVY_ATOMS[target]
    assert all(atom.element.name in {"C", "O"} for atom in ligand_atoms)


def test_a_target_gives_the_same_files_alone_and_after_shard_mates(shards):
    done, alone = shards["alone"]
    assert done.returncode == 0, done.stderr
    _, mates = shards["mates"]
    for name in ("pred.model_idx_0.cif", "pred.model_idx_1.cif", "scores.json"):
        assert (alone / "phospho" / name).read_bytes() == (mates / "phospho" / name).read_bytes()


def test_a_target_already_there_is_not_run_again(shards, downloads):
    _, output = shards["alone"]
    before = (output / "phospho" / "pred.model_idx_0.cif").stat().st_mtime_ns
    shard = output.parent / "alone.json"
    done = run([RUNNER, shard, output, "--downloads", downloads], cwd=output.parent)
    assert done.returncode == 0, done.stderr
    report = json.loads((output / "shard.json").read_text())
    assert report["already_there"] == ["phospho"] and report["finished"] == []
    assert (output / "phospho" / "pred.model_idx_0.cif").stat().st_mtime_ns == before


def test_missing_weights_name_where_they_come_from(tmp_path):
    shard = tmp_path / "shard.json"
    shard.write_text(json.dumps({"seed": 7, "settings": SETTINGS, "targets": [KINASE]}))
    done = run([RUNNER, shard, tmp_path / "out", "--downloads", tmp_path / "empty"], tmp_path)
    assert done.returncode == 2
    assert "https://chaiassets.com/chai1-inference-depencencies/models_v2/trunk.pt" in done.stderr
    assert "esm2/traced_sdpa_esm2_t36_3B_UR50D_fp16.pt" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_shard_names_the_place(tmp_path):
    shard = tmp_path / "shard.json"
    bad = {**KINASE, "entities": [{**ASPIRIN, "kind": "smiles"}]}
    shard.write_text(json.dumps({"seed": 7, "settings": SETTINGS, "targets": [bad]}))
    done = run([RUNNER, shard, tmp_path / "out", "--downloads", tmp_path], tmp_path)
    assert done.returncode == 2
    assert "targets[0].entities[0].kind: 'smiles'" in done.stderr
