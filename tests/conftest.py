"""Shared fixtures: the repository layout and a generated Boltz-2 test cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from omtx_hub.testcache import build_test_cache

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


@pytest.fixture
def snakemake_env() -> dict[str, str]:
    """Environment for snakemake subprocesses: quiet Google deprecation warnings."""
    return {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"}


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
