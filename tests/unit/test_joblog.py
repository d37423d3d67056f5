"""The error that ends a job reaches its standard error as well as its log file."""

from __future__ import annotations

import subprocess
import sys


def test_uncaught_error_goes_to_the_log_and_to_stderr(tmp_path, repo):
    log = tmp_path / "job.log"
    script = (
        "from omtx_hub.joblog import log_job_to\n"
        f"log_job_to({str(log)!r})\n"
        "raise RuntimeError('no CUDA device')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr == f"RuntimeError: no CUDA device (traceback in {log})\n"
    assert "Traceback (most recent call last)" in log.read_text()
    assert "RuntimeError: no CUDA device" in log.read_text()
