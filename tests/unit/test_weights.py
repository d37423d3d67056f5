"""The weights' identity: the sha256 of each checkpoint used, computed once per file, and
recognised as the released Boltz-2 weights only by the published digests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import omtx_hub.weights as weights_module
from omtx_hub.config import ConfigError, Runtime
from omtx_hub.records import TEST_WEIGHTS_MARKER
from omtx_hub.testing.testcache import AFFINITY_CHECKPOINT, CONFIDENCE_CHECKPOINT
from omtx_hub.weights import (
    DIGEST_SUFFIX,
    RELEASED_CHECKPOINTS,
    ReleasedCheckpoint,
    checkpoint_paths,
    checkpoint_sha256,
    verify_weights,
    weights_in_use,
)


def write_cache(directory: Path, structure: bytes = b"s", affinity: bytes = b"a") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "boltz2_conf.ckpt").write_bytes(structure)
    (directory / "boltz2_aff.ckpt").write_bytes(affinity)
    return directory


def test_the_file_names_are_boltzs(boltz_test_cache):
    # boltz/main.py predict: cache / "boltz2_conf.ckpt", cache / "boltz2_aff.ckpt"; the test
    # cache writes them under the same names.
    assert {CONFIDENCE_CHECKPOINT, AFFINITY_CHECKPOINT} == set(RELEASED_CHECKPOINTS)
    paths = checkpoint_paths(Runtime(cache=str(boltz_test_cache)), affinity=True)
    assert all(path.is_file() for path in paths.values())


def test_the_digest_is_computed_once_and_kept_beside_the_file(tmp_path, monkeypatch):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"weights")
    hashed = []
    real = weights_module.sha256_file
    monkeypatch.setattr(weights_module, "sha256_file", lambda p: hashed.append(p) or real(p))
    digest = checkpoint_sha256(checkpoint)
    assert digest == hashlib.sha256(b"weights").hexdigest()
    recorded = json.loads((tmp_path / f"model.ckpt{DIGEST_SUFFIX}").read_text())
    assert recorded["sha256"] == digest and recorded["size"] == len(b"weights")
    # Another process (no in-process cache) reads the recorded digest instead of the file.
    weights_module._checkpoint_sha256.cache_clear()
    assert checkpoint_sha256(checkpoint) == digest
    assert len(hashed) == 1


def test_a_rewritten_file_is_hashed_again(tmp_path):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"weights 1")
    first = checkpoint_sha256(checkpoint)
    checkpoint.write_bytes(b"weights 2")
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    weights_module._checkpoint_sha256.cache_clear()
    assert checkpoint_sha256(checkpoint) == hashlib.sha256(b"weights 2").hexdigest() != first


def test_a_digest_that_cannot_be_recorded_only_costs_another_pass(tmp_path):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"weights")
    (tmp_path / f"model.ckpt{DIGEST_SUFFIX}").mkdir()  # in the way, as a read-only place is
    assert checkpoint_sha256(checkpoint) == hashlib.sha256(b"weights").hexdigest()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "model.ckpt",
        f"model.ckpt{DIGEST_SUFFIX}",
    ]


def test_weights_carry_each_checkpoints_sha256(tmp_path):
    cache = write_cache(tmp_path / "cache", b"structure", b"affinity")
    weights = weights_in_use(Runtime(cache=str(cache)), affinity=True)
    assert weights.structure_sha256 == hashlib.sha256(b"structure").hexdigest()
    assert weights.affinity_sha256 == hashlib.sha256(b"affinity").hexdigest()
    assert weights.released is False
    assert "not the released Boltz-2 checkpoints" in weights.note
    assert weights.structure_sha256 in weights.note
    without_affinity = weights_in_use(Runtime(cache=str(cache)), affinity=False)
    assert without_affinity.affinity_sha256 is None


def test_released_weights_are_recognised_by_their_published_digest(tmp_path, monkeypatch):
    cache = write_cache(tmp_path / "cache", b"structure", b"affinity")
    for name, content in (("boltz2_conf.ckpt", b"structure"), ("boltz2_aff.ckpt", b"affinity")):
        published = ReleasedCheckpoint(hashlib.sha256(content).hexdigest(), len(content))
        monkeypatch.setitem(RELEASED_CHECKPOINTS, name, published)
    weights = weights_in_use(Runtime(cache=str(cache)), affinity=True)
    assert weights.released is True
    # A released file under another name (runtime.checkpoint) is still the released file.
    copy = tmp_path / "my-copy.ckpt"
    copy.write_bytes(b"structure")
    assert weights_in_use(Runtime(cache=str(cache), checkpoint=str(copy))).released is True


def test_missing_default_files_are_planned_as_the_released_ones(tmp_path):
    (tmp_path / "empty").mkdir()
    weights = weights_in_use(Runtime(cache=str(tmp_path / "empty")), affinity=True)
    assert weights.released is True
    assert weights.structure_sha256 == RELEASED_CHECKPOINTS["boltz2_conf.ckpt"].sha256
    assert weights.affinity_sha256 == RELEASED_CHECKPOINTS["boltz2_aff.ckpt"].sha256
    assert "checks its sha256 before predicting" in weights.note


def test_the_test_cache_is_flagged(boltz_test_cache, tmp_path):
    weights = weights_in_use(Runtime(cache=str(boltz_test_cache)), affinity=True)
    assert weights.released is False
    assert "random test weights" in weights.note and "meaningless" in weights.note
    # A test cache that lacks its checkpoints is never planned as the released weights.
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / TEST_WEIGHTS_MARKER).write_text("{}")
    with pytest.raises(ConfigError, match="make-test-cache"):
        weights_in_use(Runtime(cache=str(incomplete)))


def test_a_shard_refuses_other_weights_than_planned(tmp_path):
    cache = write_cache(tmp_path / "cache", b"structure", b"affinity")
    runtime = Runtime(cache=str(cache))
    planned = weights_in_use(runtime, affinity=True)
    verify_weights(planned, runtime, affinity=True)
    (cache / "boltz2_aff.ckpt").write_bytes(b"another affinity model")
    stat = (cache / "boltz2_aff.ckpt").stat()
    os.utime(cache / "boltz2_aff.ckpt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(ConfigError, match="affinity checkpoint .* has sha256"):
        verify_weights(planned, runtime, affinity=True)
    # The affinity model is not loaded without affinity: nothing to refuse.
    verify_weights(weights_in_use(runtime, affinity=False), runtime, affinity=False)
