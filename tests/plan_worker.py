"""Planning in a process of its own, for tests that must see a crash (a signal) or a hang as
such: `PlanWorker` sends a config mapping to a long-lived `python -m tests.plan_worker`, which
plans it as the workflow does at parse time (tests.hostile.plan) and answers with the outcome.
A worker that dies is reported with its signal and started again for the next config; one that
does not answer in time is killed.

The protocol is one JSON line each way: the config mapping in; `{"outcome": "planned",
"names": [...], "smiles": [...]}`, `{"outcome": "refused", "error": <class>, "message": ...}`
or `{"outcome": "traceback", "traceback": ...}` out.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class PlanWorker:
    """A planning process that outlives one config (importing RDKit, pandas and Boltz's
    standardiser takes seconds; planning a small sheet, milliseconds)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None

    def plan(self, raw: dict, *, within_s: float) -> dict:
        """The outcome of planning `raw`; AssertionError when the process died (a signal, as
        RDKit's segmentation faults) or did not answer within `within_s` seconds."""
        process = self._started()
        try:
            process.stdin.write(json.dumps(raw) + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            pass  # it died: reported below, from its exit status
        ready, _, _ = select.select([process.stdout], [], [], within_s)
        if not ready:
            self.close()
            raise AssertionError(f"planning did not end within {within_s} s")
        line = process.stdout.readline()
        if not line:
            code = process.wait()
            self._process = None
            died = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            raise AssertionError(f"the planning process died ({died})")
        return json.loads(line)

    @property
    def pid(self) -> int:
        """The process that plans the next config."""
        return self._started().pid

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def _started(self) -> subprocess.Popen:
        if self._process is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.plan_worker"],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        return self._process


def _outcome(raw: dict) -> dict:
    from omtx_hub.config import ConfigError
    from omtx_hub.sheet import SheetError
    from tests.hostile import plan

    try:
        planned = plan(raw)
    except (SheetError, ConfigError) as error:
        return {"outcome": "refused", "error": type(error).__name__, "message": str(error)}
    except Exception:
        return {"outcome": "traceback", "traceback": traceback.format_exc()}
    smiles = [target.smiles for shard in planned.shards.values() for target in shard.targets]
    return {"outcome": "planned", "names": list(planned.ligands["name"]), "smiles": smiles}


def main() -> None:
    # Answers go to the original standard output alone; anything else written there (RDKit's
    # C++ messages, logging) goes to standard error.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        answers.write(json.dumps(_outcome(json.loads(line))) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
