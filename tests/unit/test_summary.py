"""summary.json as a typed, versioned document (omtx_hub.summary): what is written reads back
as it was, the parts only some screens have are absent elsewhere, and a reader refuses what
it cannot read, saying how to aggregate again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from omtx_hub.layout import ScreenLayout
from omtx_hub.records import REPLICATE_COLUMNS
from omtx_hub.schema import SUMMARY_SCHEMA_PATH
from omtx_hub.summary import (
    SUMMARY_VERSION,
    TopEntry,
    UnreadableSummary,
    read_summary,
    write_summary,
)
from omtx_hub.testing.synthetic import make_plan, write_screen

ROWS = [(f"L{i}", smiles, "x") for i, smiles in enumerate(["CCO", "CCN", "CCC", "OCC", "CCCl"])]
OPTIONAL_PARTS = {"replicates", "selectivity", "warning"}


def written_summary(tmp_path, *, every_part: bool):
    """A synthetic screen's summary.json: with `every_part`, one that has every optional part
    (replicates, a selectivity panel, test weights), else one that has none."""
    options = {}
    if every_part:
        options = {
            "proteins": 2,
            "model": {"replicates": 2},
            "selectivity": {"target": "P1", "anti_targets": ["P2"]},
        }
    plan = make_plan(tmp_path, ROWS, shard_size=3, **options)
    if every_part:
        plan.weights = plan.weights.model_copy(update={"released": False, "note": "test weights"})
    screen_dir = write_screen(plan, tmp_path / "results", failed_every=4)
    return ScreenLayout(screen_dir).summary


@pytest.fixture(scope="module")
def summaries(tmp_path_factory) -> dict[bool, Path]:
    """every_part -> the summary.json of such a screen."""
    return {
        every_part: written_summary(tmp_path_factory.mktemp("summary"), every_part=every_part)
        for every_part in (True, False)
    }


@pytest.mark.parametrize("every_part", [True, False])
def test_a_written_summary_reads_back_as_it_was_and_meets_its_schema(summaries, every_part):
    path = summaries[every_part]
    document = json.loads(path.read_text())
    assert next(iter(document)) == "summary_version" and document["summary_version"] == 1
    assert OPTIONAL_PARTS & set(document) == (OPTIONAL_PARTS if every_part else set())
    summary = read_summary(path)
    # The same keys in the same order, and the same values.
    assert json.dumps(summary.to_json(), indent=1) + "\n" == path.read_text()
    validate(document, str(SUMMARY_SCHEMA_PATH), set_default=False)
    if every_part:
        assert summary.selectivity.anti_targets == ["P2"] and summary.replicates.count == 2
        assert "NOT PREDICTIONS" in summary.warning
        assert {"replicates", "confidence_score_std"} <= set(document["best_targets"][0])
    else:
        assert "replicates" not in document["best_targets"][0]


def test_the_schema_refuses_an_optional_part_written_as_null(summaries):
    document = json.loads(summaries[False].read_text())
    with pytest.raises(WorkflowError, match="None is not of type 'string'"):
        validate({**document, "warning": None}, str(SUMMARY_SCHEMA_PATH), set_default=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"summary_version": None}, "has no summary_version"),  # None: left out
        ({"summary_version": SUMMARY_VERSION + 1}, f"has summary_version {SUMMARY_VERSION + 1}"),
        ({"counts": {"ligands": 5}}, "is not a valid summary_version 1 summary"),
    ],
)
def test_a_summary_it_cannot_read_is_refused_with_the_remedy(summaries, tmp_path, change, message):
    path = tmp_path / "summary.json"
    document = json.loads(summaries[False].read_text()) | change
    changed = {key: value for key, value in document.items() if value is not None}
    path.write_text(json.dumps(changed))
    with pytest.raises(UnreadableSummary) as refused:
        read_summary(path)
    assert str(refused.value).startswith(f"{path} ")
    assert message in str(refused.value)
    assert "`snakemake --forcerun aggregate_screen`" in str(refused.value)


def test_a_top_list_entry_carries_every_replicate_column():
    assert set(REPLICATE_COLUMNS) <= set(TopEntry.model_fields)


def test_a_summary_write_that_fails_leaves_the_previous_one_whole(summaries, tmp_path, monkeypatch):
    """summary.json is replaced atomically: a write that fails after the file was opened (text
    that cannot be encoded) leaves the previous summary as it was and no staging file beside
    it; a plain write would have truncated it."""
    path = tmp_path / "summary.json"
    path.write_text(summaries[False].read_text())
    summary = read_summary(path)

    monkeypatch.setattr("omtx_hub.summary.json.dumps", lambda *_a, **_k: "\ud800")
    with pytest.raises(UnicodeEncodeError):
        write_summary(summary, path)
    assert path.read_text() == summaries[False].read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
