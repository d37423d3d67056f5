"""One log file per Snakemake job: Python logging and uncaught errors both go there, and the
error that ends a job also to the job's own standard error: on Google Batch the log file of a
failed job stays on its VM (Snakemake uploads the logs of successful jobs only), while
standard error reaches Cloud Logging and the main process's terminal."""

from __future__ import annotations

import logging
import sys


def log_job_to(path: str) -> None:
    open(path, "w").close()  # noqa: SIM115 - start the job's log empty
    # Append mode (O_APPEND) for every writer: subprocesses such as Boltz write to it too.
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    job_stderr = sys.stderr
    sys.stderr = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job

    def report(kind, error, traceback) -> None:
        sys.__excepthook__(kind, error, traceback)  # the traceback, into the log file
        print(f"{kind.__name__}: {error} (traceback in {path})", file=job_stderr, flush=True)

    sys.excepthook = report
