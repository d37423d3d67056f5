"""Shared fixtures: the repository layout and a generated Boltz-2 test cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Boltz's `parse_boltz_schema` computes an affinity ligand's weight with `AllChem.Descriptors`,
# a name AllChem has only when rdkit.Chem.Descriptors was imported before it (Boltz's own
# entry point imports it first, through boltz/data/feature/featurizerv2.py). Tests call the
# parser directly, after whatever their modules imported: importing it here, before any test
# module, keeps that order in every selection of tests.
import rdkit.Chem.Descriptors  # noqa: F401

from omtx_hub.testing.testcache import build_test_cache

REPO = Path(__file__).resolve().parents[1]
# Built once and kept between test runs (it is idempotent); CI builds it on first use.
TEST_CACHE = REPO / ".cache" / "boltz-test"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def boltz_test_cache() -> Path:
    """A Boltz cache with random tiny weights and the residue molecule files."""
    return build_test_cache(TEST_CACHE)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skipped test fails: CI installs everything the suite needs
    (`.ci/run` runs `make test`, which installs the linters' tools and Chromium), so a skip
    there means a missing tool, not a test that may be left out."""
    report = yield
    in_ci = os.environ.get("CI", "").lower() in ("true", "1")
    if in_ci and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        reason = str(reason).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = (
            f"skipped under CI=true, where every test must run: {reason}. Install what it "
            "needs (`make setup` for the tools in .venv and .tools, `make browser` for "
            "Chromium) or run outside CI"
        )
    return report


@pytest.fixture(autouse=True)
def _environment_is_restored():
    """Every test leaves os.environ as it found it (use monkeypatch), so tests pass in any
    order and alone. Fixtures of a wider scope may set variables for their whole scope."""
    before = dict(os.environ)
    yield
    after = dict(os.environ)
    changed = sorted(
        name
        for name in before.keys() | after.keys()
        if before.get(name) != after.get(name) and name != "PYTEST_CURRENT_TEST"  # pytest's own
    )
    assert not changed, f"the test left environment variables changed: {changed}"
