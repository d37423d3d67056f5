"""One log file per Snakemake job: Python logging and uncaught errors both go there."""

from __future__ import annotations

import logging
import sys


def log_job_to(path: str) -> None:
    open(path, "w").close()  # noqa: SIM115 - start the job's log empty
    # Append mode (O_APPEND) for every writer: subprocesses such as Boltz write to it too.
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    sys.stderr = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
