"""A shard reports each committed target on its standard output (issue 12, item 6)."""

from __future__ import annotations

import logging
import re

import pytest

from tests.workflow.test_shard import first_shard_job

pytestmark = pytest.mark.boltz


def test_each_target_is_reported_on_standard_output(tmp_path, boltz_test_cache, capsys, caplog):
    caplog.set_level(logging.INFO, logger="omtx_hub.predict")
    # Cyclohexyne is valid SMILES that Boltz cannot embed in 3D: it fails.
    rows = [("ethanol", "CCO"), ("cyclohexyne", "C1#CCCCC1")]
    job, _ = first_shard_job(tmp_path, rows, boltz_test_cache)
    job.run()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "omtx-hub shard P1/00000: 2 targets, 0 in the store, 2 to predict"
    (progress,) = [line for line in lines if " predicted, " in line and "per target" in line]
    assert re.fullmatch(
        r"omtx-hub shard P1/00000: 1/2 predicted, [0-9.]+ s per target since boltz started "
        r"\([0-9]+ s\)",
        progress,
    )
    assert any(
        line.startswith("omtx-hub shard P1/00000: failed (permanent): C1#CCCCC1: ")
        for line in lines
    )
    assert lines[-1].startswith(
        "omtx-hub shard P1/00000: finished: 1 completed (1 predicted, 0 from the store), 1 failed"
    )
    assert "1/2 predicted" in caplog.text  # the job's log has them too
