"""`omtx-hub status`: done / failed / pending, rate, ETA and cost from the store and the
shard manifests (issue 12, item 6)."""

from __future__ import annotations

import os
import random

from omtx_hub.cli import main
from omtx_hub.config import load_config
from omtx_hub.plan import build_plan
from omtx_hub.progress import planned_screen, screen_progress, status_text
from omtx_hub.store import LocalStore
from omtx_hub.store_layout import RECORD_FILE, entry_path
from omtx_hub.testing.synthetic import computed_entry, write_shard_manifest
from tests.screens import write_config_file, write_screen

NOW = 1_800_000_000.0


def started_screen(tmp_path):
    """Five compounds in shards 00000-00002: shard 00000 finished (one target failed),
    00001 has one target committed 5 min ago, 00002 nothing; another commit is 2 h old."""
    raw = write_screen(
        tmp_path,
        shard_size=2,
        cost={"seconds_per_target": 60, "startup_s_per_shard": 300, "gpu_hourly_usd": 1.0},
    )
    config = load_config(raw)
    store = LocalStore(config.store)
    plan = build_plan(config, store)
    first, second = plan.shard("P1", "00000").targets
    third = plan.shard("P1", "00001").targets[0]
    for target, age_s in ((first, 7200), (third, 300)):
        store.commit(target.key, {}, {"key": target.key})
        record = store.root / entry_path(target.key) / RECORD_FILE
        os.utime(record, (NOW - age_s, NOW - age_s))
    entries = [
        computed_entry(plan, "P1", target, failed, random.Random(0))
        for target, failed in ((first, False), (second, True))
    ]
    write_shard_manifest(
        tmp_path / "results/s1/shards/P1/00000.json",
        plan,
        "P1",
        "00000",
        entries,
        boltz_wall_s=1700.0,
        job_wall_s=1800.0,
    )
    plan.write(LocalStore(tmp_path))  # as the planning process does (omtx-hub status reads it)
    return raw, plan, store


def test_status_counts_rate_eta_and_cost(tmp_path):
    _, plan, store = started_screen(tmp_path)
    status = screen_progress(plan, store, LocalStore(tmp_path), window_s=900, now=NOW)
    assert [(s.shard, s.completed, s.failed, s.pending, s.state) for s in status.shards] == [
        ("00000", 1, 1, 0, "finished"),
        ("00001", 1, 0, 1, "running"),
        ("00002", 0, 0, 1, "waiting"),
    ]
    assert (status.count("completed"), status.count("failed"), status.count("pending")) == (2, 1, 2)
    assert status.recent_commits == 1 and status.rate_per_hour == 4.0
    assert status.eta_hours == 0.5
    # Finished shard: 1800 s measured + 300 s start-up; running shard: 60 s + 300 s. At $1/h.
    assert round(status.cost_so_far_usd, 4) == round((1800 + 300 + 60 + 300) / 3600, 4)

    text = status_text(status, plan, all_shards=False, targets=True)
    assert "failed   P1               00000  L1" in text
    assert "P1               00001       2      1      0       1  running" in text
    assert "00000       2" not in text  # finished shards are listed only with all_shards
    assert (
        "s1: 2 done, 1 failed, 2 pending of 5 targets; shards: 1 finished, 1 running, "
        "1 waiting" in text
    )
    assert "rate: 1 targets in the last 15 min (4.0/h); ETA 0.5 h" in text


def test_status_from_the_plan_files_reads_each_spec_and_manifest_when_its_shard_is_counted(
    tmp_path,
):
    """As `omtx-hub status` reads a screen: the plan's index without its specs
    (PlannedScreen.from_results(specs=False)); the specs and manifests are read shard by shard
    and nothing of them is kept but counts and the unfinished shards' states, with the same
    report as from the planning process's own plan."""
    raw, plan, store = started_screen(tmp_path)
    config_file = write_config_file(tmp_path, raw)
    planned, _, results = planned_screen([config_file], str(tmp_path))
    assert planned.shards == {}
    status = screen_progress(planned, store, results, window_s=900, now=NOW)
    expected = screen_progress(plan, store, LocalStore(tmp_path), window_s=900, now=NOW)
    assert status.shards == expected.shards
    assert status.manifests == {("P1", "00000"): "results/s1/shards/P1/00000.json"}
    assert status.unfinished_states == {
        target.key: state
        for name, states in (("00001", ("completed", "pending")), ("00002", ("pending",)))
        for target, state in zip(plan.shard("P1", name).targets, states, strict=True)
    }
    for all_shards, targets in ((False, True), (True, False)):
        assert status_text(status, planned, all_shards=all_shards, targets=targets) == (
            status_text(expected, plan, all_shards=all_shards, targets=targets)
        )


def test_no_recent_commit_means_no_eta(tmp_path):
    _, plan, store = started_screen(tmp_path)
    status = screen_progress(plan, store, LocalStore(tmp_path), window_s=60, now=NOW)
    assert status.recent_commits == 0 and status.eta_hours is None
    assert "ETA unknown" in status_text(status, plan, all_shards=True, targets=False)


def test_status_command(tmp_path, repo, monkeypatch, capsys):
    raw, _, _ = started_screen(tmp_path)
    config = write_config_file(tmp_path, raw, "screen.yaml")
    monkeypatch.chdir(repo)  # merged over config/config.yaml, as snakemake does
    assert main(["status", "--configfile", str(config), "--outputs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "s1: 2 done, 1 failed, 2 pending of 5 targets" in out
    assert "cost so far: $" in out


def test_status_shows_the_canary_report(tmp_path):
    """A Google Batch run's canary report (omtx_hub.canary) is part of the status."""
    from omtx_hub.canary import canary_report
    from omtx_hub.records import MachineSeen, read_manifest, write_canary

    _, plan, store = started_screen(tmp_path)
    manifest = read_manifest(tmp_path / "results/s1/shards/P1/00000.json").model_copy(
        update={
            "machine": MachineSeen(
                gpu="NVIDIA L4",
                torch="2.5.1",
                torch_cuda="12.4",
                driver="NVRM version: 550.90.07",
                vm_startup_s=250.0,
            )
        }
    )
    report = canary_report(
        manifest, "boltz2", [2, 1], plan.target_count, plan.config.cost, attempts=3
    )
    write_canary(report, tmp_path / "results/s1/canary/P1/00000.json")
    status = screen_progress(plan, store, LocalStore(tmp_path), window_s=900, now=NOW)
    assert status.canaries == (report,)
    text = status_text(status, plan, all_shards=False, targets=False)
    assert (
        "Canary shard P1/00000 succeeded:\n  GPU NVIDIA L4; torch 2.5.1 built for CUDA 12.4" in text
    )
    assert "VM start-up 250 s (boot, driver, image pull)" in text
    assert "  3 of 5 targets to predict, in 2 shard job(s)" in text
