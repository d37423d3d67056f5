"""Shared fixtures: the repository layout and a generated Boltz-2 test cache."""

from __future__ import annotations

from pathlib import Path

import pytest

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
