"""Under CI=true a skipped test fails the run (tests/conftest.py), naming what to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIPPING_TESTS = """
import pytest

def test_runs():
    pass

@pytest.mark.skipif(True, reason="/usr/bin/chromium is missing")
def test_needs_chromium():
    pass

def test_skips_itself():
    pytest.skip("no emulator")

@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert False
"""


def run_pytest(directory: Path, ci: str | None) -> subprocess.CompletedProcess:
    (directory / "conftest.py").write_text("from tests.conftest import pytest_runtest_makereport\n")
    (directory / "test_sample.py").write_text(SKIPPING_TESTS)
    environment = {k: v for k, v in os.environ.items() if k != "CI"}
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO), environment.get("PYTHONPATH", "")])
    if ci is not None:
        environment["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-rA",
            str(directory),
        ],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
    )


def test_a_skip_fails_under_ci(tmp_path):
    result = run_pytest(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    # The skip in setup (skipif) is an error, the one in the test a failure; xfail stays.
    assert "1 failed, 1 passed, 1 xfailed, 1 error" in result.stdout
    assert "skipped under CI=true, where every test must run: /usr/bin/chromium is missing" in (
        result.stdout
    )
    assert "no emulator. Install what it needs" in result.stdout


def test_skips_are_allowed_outside_ci(tmp_path):
    result = run_pytest(tmp_path, None)
    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout
