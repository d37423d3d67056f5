"""The generated random-weights Boltz-2 cache, and the real `boltz predict` running offline."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from omtx_hub.boltz_cache import (
    AFFINITY_CHECKPOINT,
    MOLECULES_ARCHIVE,
    MOLECULES_DIR,
    STRUCTURE_CHECKPOINT,
    TEST_WEIGHTS_MARKER,
    is_test_cache,
)
from omtx_hub.boltz_io import scores
from omtx_hub.boltz_schema import chain_counts, constant_confidence_fields
from omtx_hub.records import AFFINITY_HEAD_FIELDS, CONFIDENCE_FIELDS
from omtx_hub.testing.testcache import (
    NUCLEOTIDE_FLAVORS,
    TEST_CCD_COMPONENTS,
    build_test_cache,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

# Residue codes, a table of literals (fmt: skip keeps them on two lines).
CANONICAL_RESIDUES = [
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE", "LEU",
    "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL", "UNK",
]  # fmt: skip

TARGET_YAML = """\
version: 1
sequences:
  - protein:
      id: A
      sequence: MKTAYIAKQRQISFVKSHFS
      msa: empty
  - ligand:
      id: B
      smiles: 'CC(=O)Oc1ccccc1C(=O)O'
properties:
  - affinity:
      binder: B
"""

# What omtx_hub.boltz_io parses must be exactly what the real Boltz writes.
CONFIDENCE_KEYS = {*CONFIDENCE_FIELDS, "chains_ptm", "pair_chains_iptm"}
AFFINITY_KEYS = {
    "affinity_pred_value",
    "affinity_probability_binary",
    "affinity_pred_value1",
    "affinity_probability_binary1",
    "affinity_pred_value2",
    "affinity_probability_binary2",
}


@pytest.fixture(scope="session")
def tiny_boltz_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weights Boltz-2 cache, built once per test session (~15 s)."""
    return build_test_cache(tmp_path_factory.mktemp("boltz_cache"), seed=0)


def test_tiny_cache_has_what_boltz_checks(tiny_boltz_cache: Path) -> None:
    cache = tiny_boltz_cache
    # Exactly the paths boltz.main.download_boltz2 tests with exists().
    for name in (MOLECULES_ARCHIVE, MOLECULES_DIR, STRUCTURE_CHECKPOINT, AFFINITY_CHECKPOINT):
        assert (cache / name).exists(), name
    molecules = sorted(p.stem for p in (cache / MOLECULES_DIR).glob("*.pkl"))
    # The canonical residues, the DNA and RNA residues, and the test's CCD components.
    assert molecules == sorted([*CANONICAL_RESIDUES, *NUCLEOTIDE_FLAVORS, *TEST_CCD_COMPONENTS])
    for name in (STRUCTURE_CHECKPOINT, AFFINITY_CHECKPOINT):
        assert 5e6 < (cache / name).stat().st_size < 50e6, name

    with (cache / MOLECULES_DIR / "TRP.pkl").open("rb") as handle:
        trp = pickle.load(handle)  # noqa: S301
    names = [atom.GetProp("name") for atom in trp.GetAtoms()]
    assert {"N", "CA", "C", "O", "CB", "CZ2", "CH2"} <= set(names)
    assert len(set(names)) == len(names)
    assert any(atom.GetAtomicNum() == 1 for atom in trp.GetAtoms())
    assert [c.GetProp("name") for c in trp.GetConformers()] == ["Computed"]

    marker = json.loads((cache / TEST_WEIGHTS_MARKER).read_text())
    assert marker["random_weights"] is True
    assert marker["full_size"] is False
    assert marker["seed"] == 0
    assert marker["boltz_version"]
    assert "meaningless" in marker["note"]
    assert is_test_cache(cache)
    assert not is_test_cache(cache / MOLECULES_DIR)


def test_rebuild_keeps_complete_files(tiny_boltz_cache: Path) -> None:
    checkpoint = tiny_boltz_cache / STRUCTURE_CHECKPOINT
    before = checkpoint.stat().st_mtime_ns
    build_test_cache(tiny_boltz_cache, seed=0)
    assert checkpoint.stat().st_mtime_ns == before


def _offline_env() -> dict[str, str]:
    """Environment in which any download attempt fails at once instead of using the network."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    unreachable = "http://127.0.0.1:9"
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[key] = unreachable
    for key in ("no_proxy", "NO_PROXY"):
        env.pop(key, None)
    env["HF_HUB_OFFLINE"] = "1"
    return env


@pytest.mark.boltz
def test_real_boltz_predict_offline(tiny_boltz_cache: Path, tmp_path: Path) -> None:
    target = tmp_path / "aspirin.yaml"
    target.write_text(TARGET_YAML)
    out_dir = tmp_path / "out"
    # One flag and its value per line, as on a command line (fmt: skip keeps the pairs).
    command = [
        sys.executable, "-m", "omtx_hub.boltz_launcher", "--precision", "32",
        "predict", str(target),
        "--out_dir", str(out_dir),
        "--cache", str(tiny_boltz_cache),
        "--accelerator", "cpu",
        "--recycling_steps", "0",
        "--sampling_steps", "2",
        "--diffusion_samples", "1",
        "--sampling_steps_affinity", "2",
        "--diffusion_samples_affinity", "1",
        "--num_workers", "0",
        "--seed", "0",
        "--no_kernels",
    ]  # fmt: skip
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "Downloading" not in log, log

    predictions = out_dir / "boltz_results_aspirin" / "predictions" / "aspirin"
    expected = [
        "aspirin_model_0.cif",
        "confidence_aspirin_model_0.json",
        "plddt_aspirin_model_0.npz",
        "pae_aspirin_model_0.npz",
        "pde_aspirin_model_0.npz",
        "pre_affinity_aspirin.npz",
        "affinity_aspirin.json",
    ]
    missing = [name for name in expected if not (predictions / name).is_file()]
    assert not missing, f"missing {missing}; found {sorted(os.listdir(predictions))}\n{log}"

    confidence = json.loads((predictions / "confidence_aspirin_model_0.json").read_text())
    assert set(confidence) == CONFIDENCE_KEYS
    assert 0.0 <= confidence["complex_plddt"] <= 1.0
    affinity = json.loads((predictions / "affinity_aspirin.json").read_text())
    assert set(affinity) == AFFINITY_KEYS
    assert all(isinstance(value, float) for value in affinity.values())
    assert "LIG" in (predictions / "aspirin_model_0.cif").read_text()
    assert_scores_follow_boltz(confidence, affinity)


def assert_scores_follow_boltz(confidence: dict, affinity: dict) -> None:
    """What the summaries rely on, checked on the JSON the real Boltz wrote for one protein
    chain + one ligand (TARGET_YAML)."""
    values = scores(confidence, affinity)
    assert {field: values[field] for field in AFFINITY_HEAD_FIELDS} == {
        field: affinity[field] for field in AFFINITY_HEAD_FIELDS
    }
    # The ensemble is the mean of its two heads (Boltz2.forward; no MW correction asked).
    mean_value = (affinity["affinity_pred_value1"] + affinity["affinity_pred_value2"]) / 2
    mean_probability = (
        affinity["affinity_probability_binary1"] + affinity["affinity_probability_binary2"]
    ) / 2
    assert affinity["affinity_pred_value"] == pytest.approx(mean_value, rel=1e-6, abs=1e-7)
    assert affinity["affinity_probability_binary"] == pytest.approx(
        mean_probability, rel=1e-6, abs=1e-7
    )
    # ipTMs are computed (expected TM-scores are > 0 wherever a pair exists), and the one a
    # composition has no chain pair for is exactly 0.
    assert confidence["iptm"] > 0 and confidence["ligand_iptm"] > 0
    constant = constant_confidence_fields(chain_counts(yaml.safe_load(TARGET_YAML)))
    assert set(constant) == {"protein_iptm"}
    assert all(confidence[field] == 0.0 for field in constant)
    # With one protein and one ligand chain every interface pair is protein-ligand.
    assert confidence["iptm"] == confidence["ligand_iptm"]
