"""Boltz crashing mid-shard fails the job (Snakemake retries it, with more memory) and the
retry predicts only the targets the crashed process had not finished: a crash never passes as
failed targets. How often a shard may run is `sharding.attempts`."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import psutil
import pytest

from tests.screens import (
    SIX_LIGANDS,
    snakemake_command,
    snakemake_env,
    start_screen_in_background,
    wait_for_first_commit,
    write_config_file,
    write_screen,
    write_six_ligand_screen,
)

pytestmark = pytest.mark.boltz

LIGANDS = SIX_LIGANDS


def boltz_processes(snakemake: subprocess.Popen) -> list[psutil.Process]:
    """The `boltz predict` processes (omtx_hub.boltz_launcher) below the Snakemake run."""
    found = []
    for child in psutil.Process(snakemake.pid).children(recursive=True):
        try:
            if "omtx_hub.boltz_launcher" in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_boltz_crash_fails_the_job_and_the_retry_predicts_only_the_rest(tmp_path, boltz_test_cache):
    config = write_six_ligand_screen(tmp_path, boltz_test_cache)
    store = tmp_path / "store"
    errors = tmp_path / "snakemake.err"
    with open(errors, "w") as stderr:
        run = start_screen_in_background(tmp_path, config, "--show-failed-logs", stderr=stderr)
        try:
            wait_for_first_commit(run, store, stderr_file=errors)
            # Only Boltz dies, as in a CUDA error or the OOM killer: the job script survives.
            (boltz,) = boltz_processes(run)
            boltz.send_signal(signal.SIGKILL)
            assert run.wait(timeout=900) == 0, errors.read_text()[-5000:]
        finally:
            if run.poll() is None:
                run.kill()
    log = errors.read_text()
    assert "Error in rule boltz_predict_shard" in log
    # The retry is the second attempt, with twice the memory (after an OOM kill); Snakemake's
    # own log lists each job's resources.
    (run_log,) = (tmp_path / ".snakemake/log").glob("*.snakemake.log")
    resources = re.findall(r"resources: .*?attempt=(\d),.*? mem_mb=(\d+)", run_log.read_text())
    assert resources[:2] == [("1", "16000"), ("2", "32000")]
    assert re.search(r"ShardError: boltz predict exited with code -9 leaving \d of 6 targets", log)
    # The retry's own log says how many targets the crashed attempt left in the store.
    job_log = (tmp_path / "logs/s1/boltz_predict_shard/P1/00000.log").read_text()
    stored_before = int(re.search(r"6 targets, (\d) in the store", job_log).group(1))
    assert 0 < stored_before < len(LIGANDS)
    manifest = json.loads((tmp_path / "results/s1/shards/P1/00000.json").read_text())
    counts = (manifest["reused"], manifest["computed"], manifest["failed"])
    assert counts == (stored_before, len(LIGANDS) - stored_before, 0)
    summary = json.loads((tmp_path / "results/s1/summary.json").read_text())
    assert summary["counts"]["completed"] == len(LIGANDS)


def test_the_attempts_of_a_shard_are_configurable(tmp_path):
    # The budget check names how often each shard may run (Snakemake's retries of the rule +
    # 1); a budget that cannot be met stops the run before any job.
    raw = write_screen(
        tmp_path, sharding={"shard_size": 5, "attempts": 5}, cost={"budget_usd": 0.001}
    )
    config = write_config_file(tmp_path, raw)
    refused = subprocess.run(
        snakemake_command(tmp_path, "--configfile", str(config)),
        env=snakemake_env(),
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert "every shard run 5 times" in refused.stderr
    assert not (tmp_path / "logs").exists()
