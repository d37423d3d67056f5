"""Boltz's cache on the real workflow: a run that cannot complete it fails once, before any
job, naming the cache, what is missing or damaged, and how to provide it (issue 14, item 9).
Neither screen gets as far as Boltz: the check comes first."""

from __future__ import annotations

import shutil
import subprocess

from omtx_hub.weights import DIGEST_SUFFIX, WEIGHTS_URL_VARIABLE, checkpoint_sha256
from tests.screens import (
    FAST_MODEL,
    runtime,
    snakemake_command,
    snakemake_env,
    write_config_file,
    write_screen,
)
from tests.unit.test_weights import closed_port_url, rewrite_in_place


def run_screen(workdir, cache, **environment) -> tuple[subprocess.CompletedProcess, str]:
    """A one-ligand screen on `cache` run to its end: (the process, its output)."""
    raw = write_screen(
        workdir,
        rows=[("eth", "CCO")],
        model={**FAST_MODEL, "affinity": False},
        runtime=runtime(cache),
    )
    config = write_config_file(workdir, raw)
    result = subprocess.run(
        snakemake_command(workdir, "--configfile", str(config)),
        capture_output=True,
        text=True,
        env={**snakemake_env(), **environment},
    )
    return result, result.stdout + result.stderr


def test_a_cache_that_cannot_be_completed_fails_the_run_once_before_any_job(
    tmp_path, boltz_test_cache
):
    # A new user's machine: an empty cache, the weights' host unreachable.
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    (tmp_path / "offline").mkdir()
    result, output = run_screen(
        tmp_path / "offline", empty, **{WEIGHTS_URL_VARIABLE: closed_port_url()}
    )
    assert result.returncode != 0
    assert output.count(f"Boltz-2's cache {empty} (runtime.cache) lacks ") == 1
    assert "mols.tar, mols, boltz2_conf.ckpt, boltz2_aff.ckpt" in output
    assert "Connection refused" in output and "No job was started" in output
    assert f"rsync -a OTHER:{empty}/ {empty}/" in output and "make-test-cache" in output
    assert "rule boltz_predict_shard" not in output and "Traceback" not in output
    assert not (tmp_path / "offline/logs").exists()

    # A copy of the test cache whose structure checkpoint changed after its sha256 was
    # recorded (same size and time: a damaged disk).
    checkpoint_sha256(boltz_test_cache / "boltz2_conf.ckpt")  # recorded beside it
    damaged = tmp_path / "damaged-cache"
    shutil.copytree(boltz_test_cache, damaged)  # times kept: the record stays valid
    checkpoint = damaged / "boltz2_conf.ckpt"
    assert (damaged / f"boltz2_conf.ckpt{DIGEST_SUFFIX}").is_file()
    content = bytearray(checkpoint.read_bytes())
    content[len(content) // 2] ^= 0xFF
    rewrite_in_place(checkpoint, bytes(content))
    (tmp_path / "damaged").mkdir()
    result, output = run_screen(tmp_path / "damaged", damaged)
    assert result.returncode != 0
    assert f"{checkpoint} has sha256 " in output and "was recorded for it" in output
    assert output.count("holds damaged files") == 1
    assert "rule boltz_predict_shard" not in output
