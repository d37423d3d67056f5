"""benchmarks/bookkeeping.py --write-docs: its table replaces the marked section of
docs/performance.md and nothing else."""

from __future__ import annotations

import pytest

from benchmarks.common import REPO, replace_marked_section


def test_the_section_between_the_markers_is_replaced():
    text = "intro\n<!-- t:start -->\nold\ntable\n<!-- t:end -->\noutro\n"
    replaced = replace_marked_section(text, "t", "new")
    assert replaced == "intro\n<!-- t:start -->\nnew\n<!-- t:end -->\noutro\n"
    assert replace_marked_section(replaced, "t", "new") == replaced


def test_a_missing_marker_is_named():
    with pytest.raises(ValueError, match="<!-- t:end -->"):
        replace_marked_section("<!-- t:start -->\nold\n", "t", "new")


def test_performance_md_has_the_bookkeeping_section():
    text = (REPO / "docs" / "performance.md").read_text()
    assert replace_marked_section(text, "bookkeeping-benchmark", "x").count("x\n<!--") == 1
