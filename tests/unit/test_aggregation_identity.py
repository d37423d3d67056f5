"""The streamed, columnar aggregation writes exactly what the row-by-row one it replaced
wrote: batch_results.csv, selectivity.csv and summary.json byte for byte (summary.json less
the keys that name the moment, the command and the machine), batch_results.parquet with the
same columns, Arrow types and values.

The expected files in tests/unit/aggregation_golden/ were written by the row-by-row
implementation (main before issue 25 item 2) from these same synthetic screens; write them
again only for an intended change of the output, with

    OMTX_WRITE_AGGREGATION_GOLDEN=1 python -m pytest tests/unit/test_aggregation_identity.py
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from omtx_hub import aggregate
from omtx_hub.testing.synthetic import make_plan, write_screen

GOLDEN = Path(__file__).parent / "aggregation_golden"
WRITE_GOLDEN = os.environ.get("OMTX_WRITE_AGGREGATION_GOLDEN") == "1"
# summary.json's keys that say when, by which command and with which packages it was written.
OF_THE_RUN = ("generated_at", "command", "software")
TEXT_FILES = ("batch_results.csv", "selectivity.csv", "summary.json")

# Distinct compounds, one listed under three names (same modelled molecule), salts that are
# stripped (standardised, flagged), names a spreadsheet would run as formulas, and a series.
SMILES = [
    "CCO",
    "OCC",
    "C(C)O",
    "CCN",
    "c1ccccc1",
    "CCCl",
    "c1ccncc1",
    "CCCBr",
    "CC(=O)O.[Na+].[Cl-]",
    "CC(=O)Oc1ccccc1C(=O)O",
    "C[C@H](N)C(=O)O",
    "CC(N)C(=O)O",
    "O=C(O)c1ccccc1",
    "CCCCCCCC",
    "c1ccc2ccccc2c1",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "CN1CCC[C@H]1c1cccnc1",
    "OC1CCCCC1",
    "CCOC(=O)C",
    "NCCO",
    "CCS",
    "FC(F)(F)c1ccccc1",
]
NAMES = ["=SUM(A1)", "-5", "+x", "@me", "plain, with comma", 'quoted "name"']
ROWS = [
    (NAMES[number] if number < len(NAMES) else f"lig{number}", smiles, f"S{number % 3}")
    for number, smiles in enumerate(SMILES)
]

CASES = {
    "two-proteins": dict(proteins=2, shard_size=5, failed_every=4),
    "replicates-affinity": dict(
        proteins=1,
        shard_size=4,
        failed_every=3,
        model={"replicates": 2, "seed": 3},
        report={"rank_by": "affinity", "binder_threshold": 0.4},
    ),
    "selectivity-confidence": dict(
        proteins=3,
        shard_size=6,
        failed_every=5,
        msa_files=True,
        report={"rank_by": "confidence"},
        selectivity={"target": "P1", "anti_targets": ["P2", "P3"]},
    ),
}


def aggregated(tmp_path: Path, case: str) -> Path:
    """The screen dir of `case`, aggregated by omtx_hub.aggregate.write_results."""
    options = dict(CASES[case])
    failed_every = options.pop("failed_every")
    plan = make_plan(tmp_path, ROWS, screen=case, top_n=4, **options)
    return write_screen(plan, tmp_path / "results", failed_every=failed_every, seed=7)


def comparable_summary(path: Path, tmp_path: Path) -> str:
    document = json.loads(path.read_text())
    for key in OF_THE_RUN:
        document.pop(key)
    return json.dumps(document, indent=1).replace(str(tmp_path), "<tmp>")


@pytest.mark.parametrize("case", CASES)
def test_aggregation_writes_what_the_row_by_row_implementation_wrote(tmp_path, monkeypatch, case):
    # Chunks of 7 rows: the files are written in several, as a large screen's are.
    monkeypatch.setattr(aggregate, "CHUNK_ROWS", 7)
    screen_dir = aggregated(tmp_path, case)
    expected_dir = GOLDEN / case
    if WRITE_GOLDEN:
        shutil.rmtree(expected_dir, ignore_errors=True)
        expected_dir.mkdir(parents=True)
        for name in (*TEXT_FILES, "batch_results.parquet"):
            if (screen_dir / name).exists():
                shutil.copyfile(screen_dir / name, expected_dir / name)
        (expected_dir / "summary.json").write_text(
            comparable_summary(screen_dir / "summary.json", tmp_path)
        )
    for name in ("batch_results.csv", "selectivity.csv"):
        assert (screen_dir / name).exists() == (expected_dir / name).exists(), name
        if (expected_dir / name).exists():
            assert (screen_dir / name).read_bytes() == (expected_dir / name).read_bytes(), name
    assert comparable_summary(screen_dir / "summary.json", tmp_path) == (
        (expected_dir / "summary.json").read_text()
    )
    written = pq.read_table(screen_dir / "batch_results.parquet")
    expected = pq.read_table(expected_dir / "batch_results.parquet")
    assert written.schema.remove_metadata() == expected.schema.remove_metadata()
    assert written.to_pylist() == expected.to_pylist()
    row_groups = pq.ParquetFile(screen_dir / "batch_results.parquet").metadata.num_row_groups
    assert row_groups == -(-len(expected) // 7)
