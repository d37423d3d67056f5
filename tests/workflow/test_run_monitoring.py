"""Watching a local run (issue 12, item 6): each shard's progress lines reach the terminal
while it runs, and the run's end is posted to $OMTX_NOTIFY_URL, on success and on failure."""

from __future__ import annotations

import subprocess

import pytest

from tests.notify_server import webhook_receiver
from tests.screens import (
    FAST_MODEL,
    runtime,
    snakemake_command,
    snakemake_env,
    write_config_file,
    write_screen,
)

pytestmark = pytest.mark.boltz


def test_progress_on_the_terminal_and_completion_callbacks(tmp_path, boltz_test_cache):
    model = FAST_MODEL | {"affinity": False}
    raw = write_screen(
        tmp_path,
        rows=[("ethanol", "CCO"), ("ethylamine", "CCN")],
        model=model,
        runtime=runtime(boltz_test_cache),
    )
    config = write_config_file(tmp_path, raw)
    command = snakemake_command(tmp_path, "results/s1/summary.json", "--configfile", str(config))
    with webhook_receiver() as (url, received):
        env = snakemake_env() | {"OMTX_NOTIFY_URL": url}
        run = subprocess.run(command, capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr[-4000:]
        assert "omtx-hub shard P1/00000: 2 targets, 0 in the store, 2 to predict" in run.stdout
        assert "omtx-hub shard P1/00000: 2/2 predicted, " in run.stdout
        assert "omtx-hub shard P1/00000: finished: 2 completed" in run.stdout

        # The aggregate step fails: it reads a corrupted shard manifest.
        (tmp_path / "results/s1/summary.json").unlink()
        (tmp_path / "results/s1/shards/P1/00000.json").write_text("{not json")
        failed = subprocess.run(command, capture_output=True, text=True, env=env)
        assert failed.returncode != 0

    succeeded, failure = (call["body"] for call in received)
    assert succeeded["status"] == "succeeded" and succeeded["screen"] == "s1"
    assert succeeded["counts"]["completed"] == 2 and succeeded["counts"]["failed"] == 0
    assert (succeeded["targets"], succeeded["targets_in_store"]) == (2, 2)
    assert succeeded["dashboard"] == f"{tmp_path}/results/s1/report/index.html"
    assert failure["status"] == "failed" and failure["counts"] is None
    assert [log.endswith(".snakemake.log") for log in failure["logs"]] == [True]
