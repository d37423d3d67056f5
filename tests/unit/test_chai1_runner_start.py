"""What engines/chai1/runner.py checks before any work: the device and the downloads folder.
These checks need only torch, not chai-lab, so they run here in the project's environment
(torch's CPU build: no CUDA device), without `make chai1`; the Chai-1 image relies on both
(CHAI_DOWNLOADS_DIR, and the fail-fast on a GPU job whose container sees no GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "engines" / "chai1" / "runner.py"
BOUND_S = 120  # hang protection: importing torch on a busy 2-core machine

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def write_shard(folder: Path, device: str) -> Path:
    shard = folder / "shard.json"
    settings = {
        "device": device,
        "use_esm_embeddings": False,
        "num_trunk_recycles": 1,
        "num_diffn_timesteps": 2,
        "num_diffn_samples": 1,
    }
    target = {"id": "T1", "entities": [{"kind": "protein", "name": "A", "sequence": "MKTAY"}]}
    shard.write_text(json.dumps({"seed": 1, "settings": settings, "targets": [target]}))
    return shard


def run_runner(
    *arguments: str | Path, downloads_env: Path | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CHAI_DOWNLOADS_DIR"}
    if downloads_env is not None:
        env["CHAI_DOWNLOADS_DIR"] = str(downloads_env)
    return subprocess.run(
        [sys.executable, str(RUNNER), *map(str, arguments)],
        env=env,
        capture_output=True,
        text=True,
        timeout=BOUND_S,
    )


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_a_cuda_device_torch_cannot_see_ends_the_shard_before_any_work(tmp_path, device):
    output = tmp_path / "out"
    result = run_runner(write_shard(tmp_path, device), output, "--downloads", tmp_path)
    assert result.returncode == 2, result.stderr
    # The words Google Batch runs recognise as a failure not worth retrying
    # (omtx_hub/cloud_failures.py), with what torch was built for.
    assert "torch sees no CUDA device" in result.stderr
    assert (
        f"torch {torch.__version__}" in result.stderr and "Nothing was predicted" in result.stderr
    )
    # Checked before the downloads (the folder is empty) and before anything is written.
    assert "weights are missing" not in result.stderr
    assert not output.exists()


def test_a_device_torch_does_not_know_is_named(tmp_path):
    result = run_runner(write_shard(tmp_path, "gpu"), tmp_path / "out", "--downloads", tmp_path)
    assert result.returncode == 2
    assert "settings.device 'gpu' is not a torch device" in result.stderr


def test_the_downloads_folder_defaults_to_chai_downloads_dir(tmp_path):
    downloads = tmp_path / "mounted"
    downloads.mkdir()
    result = run_runner(write_shard(tmp_path, "cpu"), tmp_path / "out", downloads_env=downloads)
    assert result.returncode == 2
    assert f"Chai-1's weights are missing from {downloads}" in result.stderr
    assert f"-> {downloads / 'models_v2' / 'trunk.pt'}" in result.stderr

    # Neither the option nor the variable: the usage error names the option.
    result = run_runner(write_shard(tmp_path, "cpu"), tmp_path / "out")
    assert result.returncode == 2 and "--downloads" in result.stderr
