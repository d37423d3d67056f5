"""One log file per Snakemake job: Python logging and uncaught errors both go there."""

from __future__ import annotations

import logging
import sys


def log_job_to(path: str) -> None:
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    sys.stderr = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
