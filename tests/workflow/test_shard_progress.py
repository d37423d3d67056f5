"""A shard reports each committed target on its standard output (issue 12, item 6)."""

from __future__ import annotations

import re

import pytest

from tests.workflow.test_shard import first_shard_job

pytestmark = pytest.mark.slow


def test_each_target_is_reported_on_standard_output(tmp_path, boltz_test_cache, capsys, caplog):
    rows = [("ethanol", "CCO"), ("ethylamine", "CCN"), ("cyclohexyne", "C1#CCCCC1")]
    job, _ = first_shard_job(tmp_path, rows, boltz_test_cache)
    job.run()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "omtx-hub shard P1/00000: 3 targets, 0 in the store, 3 to predict"
    progress = [line for line in lines if " predicted, " in line and "per target" in line]
    assert [re.search(r": (\d/3) predicted", line).group(1) for line in progress] == ["1/3", "2/3"]
    assert re.search(r"[0-9.]+ s per target since boltz started", progress[-1])
    assert any(line.startswith("omtx-hub shard P1/00000: failed: C1#CCCCC1: ") for line in lines)
    assert lines[-1].startswith(
        "omtx-hub shard P1/00000: finished: 2 completed (2 predicted, 0 from the store), 1 failed"
    )
    assert "2/3 predicted" in caplog.text  # the job's log has them too
