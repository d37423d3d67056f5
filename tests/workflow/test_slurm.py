"""Screens through a real Slurm (issue 23): a one-node Slurm 22.05 on 127.0.0.1
(tests/slurm_cluster.py, `make slurm` installs it) and `--profile profiles/slurm`, every shard an
`sbatch` job submitted by snakemake-executor-plugin-slurm 2.8.0.

This machine has no GPU, so the screens run on the cluster's `cpu` partition the way
docs/deployment.md tells a cluster user to (the shard's `gpu: 0`, `runtime.accelerator: cpu`);
the GPU request of the profile as shipped is read back from a job held in the `gpu` partition,
which is down. The cluster has no accounting database: the plugin asks squeue for job states."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.screens import (
    SIX_LIGANDS,
    SNAKEFILE,
    committed_records,
    csv_as_declared,
    run_snakemake,
    write_six_ligand_screen,
)
from tests.slurm_cluster import missing_programs, one_node_cluster

pytestmark = pytest.mark.boltz

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "slurm"
ACCOUNT = "omtx-lab"
# What docs/deployment.md tells a cluster user to change for a CPU partition, the account and
# the shards' time limit, and the status command of a cluster without accounting.
ON_THE_CPU_PARTITION = (
    "--set-resources",
    "boltz_predict_shard:gpu=0",
    "boltz_predict_shard:slurm_partition=cpu",
    "boltz_predict_shard:runtime=30",
    "--default-resources",
    "slurm_partition=cpu",
    f"slurm_account={ACCOUNT}",
    "runtime=10",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
)
# Hang protection for one whole screen on two busy cores.
SCREEN_TIMEOUT_S = 1500


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """The session's one-node cluster; its daemons end with the session, even on failure."""
    missing = missing_programs()
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing): run `make slurm`")
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="run `make slurm`")
    with one_node_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


def slurm_command(workdir: Path, *arguments: str) -> list[str]:
    """snakemake on the workflow with the Slurm profile, run in `workdir`."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--profile",
        str(PROFILE),
        *arguments,
    ]


def slurm_env(cluster) -> dict[str, str]:
    return {**cluster.env(), "PYTHONWARNINGS": "ignore::FutureWarning"}


def run_on_slurm(cluster, workdir: Path, *arguments: str, check: bool = True):
    """Run snakemake through `cluster` to the end; the finished process."""
    result = subprocess.run(
        slurm_command(workdir, *arguments),
        cwd=workdir,
        env=slurm_env(cluster),
        capture_output=True,
        text=True,
        timeout=SCREEN_TIMEOUT_S,
    )
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    return result


def copy_of_test_screen(destination: Path, cache: Path, **runtime_overrides) -> Path:
    """.test/ copied to `destination`, on the test weights in `cache`, cut to its first protein
    and first two ligands in shards of one: two `sbatch` jobs, which the node runs side by
    side (every Slurm job costs a Snakemake start and the plugin's status polls, so the test
    keeps to the fewest that show one job per shard)."""
    workdir = Path(shutil.copytree(REPO / ".test", destination))
    config = workdir / "config" / "config.yaml"
    raw = yaml.safe_load(config.read_text())
    raw["runtime"] |= {"cache": str(cache), **runtime_overrides}
    raw["proteins"] = raw["proteins"][:1]
    raw["sharding"]["shard_size"] = 1
    ligands = workdir / raw["ligands"]
    ligands.write_text("".join(ligands.read_text().splitlines(keepends=True)[:3]))
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    return workdir


def job_ids(cluster) -> set[str]:
    return {job["id"] for job in cluster.jobs()}


def shard_jobs(cluster) -> dict[str, list[dict[str, str]]]:
    """The cluster's shard jobs by shard ("P1_00000"), oldest first, each as
    `scontrol show job` shows it."""
    jobs: dict[str, list[dict[str, str]]] = {}
    for listed in sorted(cluster.jobs(), key=lambda job: int(job["id"])):
        if listed["comment"].startswith("rule_boltz_predict_shard_"):
            shard = listed["comment"].split("_wildcards_")[1].split("_", 1)[1]
            jobs.setdefault(shard, []).append(cluster.job(listed["id"]))
    return jobs


@pytest.fixture(scope="session")
def slurm_screen(slurm, tmp_path_factory, boltz_test_cache):
    """The .test screen run to the end through Slurm on the cpu partition; (workdir, the
    run's stderr, the shard jobs by shard)."""
    workdir = copy_of_test_screen(tmp_path_factory.mktemp("slurm-run") / ".test", boltz_test_cache)
    before = job_ids(slurm)
    run = run_on_slurm(slurm, workdir, *ON_THE_CPU_PARTITION)
    jobs = {
        shard: [job for job in shard_jobs_ if job["JobId"] not in before]
        for shard, shard_jobs_ in shard_jobs(slurm).items()
    }
    return workdir, run.stderr, jobs


def test_every_shard_is_an_sbatch_job_with_the_resources_asked(slurm_screen, slurm):
    workdir, stderr, jobs = slurm_screen
    assert sorted(jobs) == ["P1_00000", "P1_00001"]
    for shard, (job, *retries) in jobs.items():
        assert not retries, f"{shard} ran more than once"
        assert job["JobState"] == "COMPLETED", job
        assert job["Partition"] == "cpu" and job["Account"] == ACCOUNT
        # threads: 4 and mem_mb 16000 x attempt 1 (workflow/rules/predict.smk); the limit given.
        assert job["CPUs/Task"] == "4" and job["MinMemoryNode"] == "16000M"
        assert job["TimeLimit"] == "00:30:00"
        assert "gres/gpu" not in job.get("TRES", "") and job.get("TresPerJob") in (None, "")
        assert job["WorkDir"] == str(workdir)
        # The log README names (logs/<screen>/<rule>/...) and the plugin's own, under logs/slurm.
        protein, number = shard.split("_")
        shard_log = workdir / "logs" / "catalog-test" / "boltz_predict_shard" / protein
        assert "1 to predict" in (shard_log / f"{number}.log").read_text()
        sbatch_log = Path(job["StdOut"])
        assert sbatch_log.parent.parent.parent == workdir / "logs" / "slurm"
        assert "rule boltz_predict_shard:" in sbatch_log.read_text()
    assert "has been submitted with SLURM jobid" in stderr
    summary = workdir / "results" / "catalog-test" / "summary.json"
    assert summary.is_file()


def test_a_slurm_run_gives_the_values_of_a_local_run(slurm_screen, tmp_path, boltz_test_cache):
    """Seeded fp32 on the CPU: the same targets give the same numbers wherever they run; only
    `runtime_s`, the time each prediction took, differs."""
    workdir, _, _ = slurm_screen
    local = copy_of_test_screen(tmp_path / ".test", boltz_test_cache)
    run_snakemake(local)
    table = Path("results") / "catalog-test" / "batch_results.csv"
    on_slurm, here = (
        csv_as_declared(directory / table).drop(columns="runtime_s")
        for directory in (workdir, local)
    )
    assert len(on_slurm) == 2
    pd.testing.assert_frame_equal(on_slurm, here, check_exact=True)


def test_a_rerun_of_a_finished_screen_submits_nothing(slurm_screen, slurm):
    workdir, _, _ = slurm_screen
    before = job_ids(slurm)
    rerun = run_on_slurm(slurm, workdir, *ON_THE_CPU_PARTITION)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
    assert job_ids(slurm) == before


def test_the_gpu_request_of_the_profile_reaches_the_job(slurm, tmp_path, boltz_test_cache):
    """The profile as shipped: `--gpus=1` on partition gpu. The job waits there (the partition
    is down, there is no GPU here) until the test stops the run and cancels what it left."""
    workdir = copy_of_test_screen(tmp_path / ".test", boltz_test_cache)
    before = job_ids(slurm)
    run = subprocess.Popen(
        slurm_command(workdir, "--slurm-status-command", "squeue"),
        cwd=workdir,
        env=slurm_env(slurm),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        held = slurm.wait_for(
            "a shard job in partition gpu",
            lambda: [
                job for job in slurm.jobs() if job["id"] not in before and job["partition"] == "gpu"
            ],
            timeout=300,
        )
        job = slurm.job(held[0]["id"])
        assert job["TresPerJob"] == "gres:gpu:1"
        assert job["CPUs/Task"] == "4" and job["MinMemoryNode"] == "16000M"
        assert job["JobState"] == "PENDING" and job["TimeLimit"] == "04:00:00"
    finally:
        stop_the_run(run, slurm, before)


# Slurm's job states of a job that has ended.
ENDED = {"CANCELLED", "COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


def stop_the_run(run: subprocess.Popen, cluster, before: set[str]) -> None:
    """Stop `run` as a user's Ctrl-C does, then cancel whatever Slurm jobs it left: how
    Snakemake 9's Slurm executor ends is Snakemake's, not what these tests are about. In CI
    on two busy cores it has been seen both to cancel its jobs and then loop on "cannot
    schedule new futures after shutdown" instead of exiting, and to leave its jobs pending
    for over 5 minutes after the SIGINT."""
    run.send_signal(signal.SIGINT)
    try:
        run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        run.kill()
        run.communicate()
    left = [
        job["id"] for job in cluster.jobs() if job["id"] not in before and job["state"] not in ENDED
    ]
    if left:
        cluster.command("scancel", *left)


def test_a_shard_without_a_gpu_needs_the_cpu_said_explicitly(slurm, tmp_path, boltz_test_cache):
    workdir = copy_of_test_screen(tmp_path / ".test", boltz_test_cache, accelerator="auto")
    before = job_ids(slurm)
    refused = run_on_slurm(slurm, workdir, *ON_THE_CPU_PARTITION, check=False)
    assert refused.returncode != 0
    assert "ask slurm for no GPU" in refused.stderr
    assert "runtime.accelerator is 'auto'" in refused.stderr
    assert job_ids(slurm) == before


def stored_at_start(shard_log: Path) -> int | None:
    """How many of its targets the shard's job found in the store when it started, from its log
    (Snakemake empties the log before each attempt); None before it says."""
    if not shard_log.exists():
        return None
    found = re.findall(r"targets, (\d+) in the store", shard_log.read_text())
    return int(found[-1]) if found else None


def state_of(cluster, job_id: str) -> str:
    return cluster.job(job_id)["JobState"]


def test_cancelled_and_timed_out_shard_jobs_resume_from_the_store(
    slurm, tmp_path, boltz_test_cache
):
    """One shard of six targets: its first job is cancelled with scancel once a target is in
    the store, its second hangs and is killed by its time limit, the main process is killed
    while the third runs; a restarted run finishes the screen, predicting only what no attempt
    committed."""
    config = write_six_ligand_screen(tmp_path, boltz_test_cache)
    store = tmp_path / "store"
    arguments = (*ON_THE_CPU_PARTITION, "--configfile", str(config))
    shard_log = tmp_path / "logs" / "s1" / "boltz_predict_shard" / "P1" / "00000.log"
    before = job_ids(slurm)

    def attempts() -> list[dict[str, str]]:
        return [job for job in shard_jobs(slurm).get("P1_00000", []) if job["JobId"] not in before]

    main = subprocess.Popen(
        slurm_command(tmp_path, *arguments),
        cwd=tmp_path,
        env=slurm_env(slurm),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        slurm.wait_for("a committed target", lambda: committed_records(store), timeout=900)
        first = attempts()[0]["JobId"]
        slurm.command("scancel", first)
        second = slurm.wait_for("attempt 2", lambda: attempts()[1:], timeout=600)[0]
        assert state_of(slurm, first) == "CANCELLED"
        assert second["MinMemoryNode"] == "32000M"  # mem_mb 16000 x attempt 2
        # Attempt 2 starts from what attempt 1 committed, then hangs: its one-minute limit,
        # set now, ends it.
        slurm.wait_for("attempt 2 to resume", lambda: (stored_at_start(shard_log) or 0) >= 1, 900)
        slurm.command("scontrol", "update", f"JobId={second['JobId']}", "TimeLimit=1")
        slurm.freeze(second["JobId"])
        third = slurm.wait_for("attempt 3", lambda: attempts()[2:], timeout=900)[0]
        assert state_of(slurm, second["JobId"]) == "TIMEOUT"
        assert third["MinMemoryNode"] == "48000M"
        # The main process dies; the third job runs on and commits to the store.
        os.kill(main.pid, signal.SIGKILL)
        main.wait()
        slurm.wait_for(
            "attempt 3 to end",
            lambda: state_of(slurm, third["JobId"]) not in ("PENDING", "RUNNING", "COMPLETING"),
            timeout=900,
        )
    finally:
        if main.poll() is None:
            os.kill(main.pid, signal.SIGKILL)
            main.wait()
    committed = {record: record.stat().st_mtime_ns for record in committed_records(store)}
    # Restarted, it finishes the screen (submitting the interrupted shard again if its outputs
    # are marked incomplete) and predicts only what no attempt committed: every record
    # committed before is left as it was.
    run_on_slurm(slurm, tmp_path, *arguments, "--unlock")  # the killed run's lock
    run_on_slurm(slurm, tmp_path, *arguments)
    assert len(committed_records(store)) == len(SIX_LIGANDS)
    assert {record: record.stat().st_mtime_ns for record in committed} == committed
    table = csv_as_declared(tmp_path / "results" / "s1" / "batch_results.csv")
    assert len(table) == len(SIX_LIGANDS)
