"""A Chai-1 shard job: the Boltz-2 shard job's store reuse, failure records, pose checks,
manifest and structures (omtx_hub.predict.ShardJob), with one Chai-1 runner process
(engines/chai1/runner.py) predicting the targets the store does not have.

The runner loads the model components once for its shard, writes each finished target's folder
whole (renamed into place) and goes on after a target fails; while it runs, each finished
target is committed to the store, so a shard killed after k of n targets resumes with the n-k
that remain, as a Boltz shard does.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from omtx_hub import chai1
from omtx_hub.config import ConfigError
from omtx_hub.failures import record_failure
from omtx_hub.keys import CHAI_LAB_VERSION
from omtx_hub.predict import WATCH_INTERVAL_S, ShardError, ShardJob, record_msa, resolve_accelerator
from omtx_hub.records import Target, TargetRecord

log = logging.getLogger(__name__)

# The runner's exit status when the shard, the downloads or the device are not usable: nothing
# was predicted (engines/chai1/runner.py).
RUNNER_UNUSABLE = 2
SHARD_FILE = "shard.json"
OUTPUT_DIR = "out"
# How much of the runner's output a shard error quotes.
QUOTED_OUTPUT_CHARS = 3000


def chai1_device(accelerator: str, gpu_attached: bool) -> str:
    """The runner's `settings.device` for runtime.accelerator (a GPU job never falls back to
    the CPU: omtx_hub.predict.resolve_accelerator)."""
    return "cuda:0" if resolve_accelerator(accelerator, gpu_attached) == "gpu" else "cpu"


class Chai1ShardJob(ShardJob):
    """A shard of a `model.engine: chai1` screen."""

    def _check_engine_version(self) -> None:
        planned = self.spec.prediction["chai_lab"]
        if planned != CHAI_LAB_VERSION:
            raise ShardError(
                f"the screen was planned with chai-lab {planned}, this checkout runs chai-lab "
                f"{CHAI_LAB_VERSION}; use the same version (container image) everywhere"
            )

    def _check_before_predicting(self, pending: list[Target], work: Path) -> None:
        """The components are the ones the keys were made with (a folder refilled after
        planning would mislabel every result)."""
        try:
            weights = chai1.chai1_weights(self.runtime, self.model)
        except ConfigError as error:
            raise ShardError(str(error)) from None
        if weights.components_sha256 != self.spec.weights.components_sha256:
            raise ShardError(
                f"Chai-1's components in {chai1.downloads(self.runtime)} are not the ones the "
                "targets were keyed with: the folder changed after planning. Nothing was "
                "predicted; run again so that the plan and the shard see the same weights."
            )

    def _ligand_chain(self) -> str:
        return chai1.ligand_chain(self.receptor)

    def _predict(self, pending: list[Target], work: Path) -> float:
        shard_file, output = work / SHARD_FILE, work / OUTPUT_DIR
        device = chai1_device(self.runtime.accelerator, self.gpu_attached)
        document = chai1.shard_document(pending, self.receptor, self.spec.prediction, device)
        shard_file.write_text(json.dumps(document, indent=1))
        command = chai1.command(self.runtime, shard_file, output)
        started = time.time()

        def commit_while_running(process: subprocess.Popen) -> None:
            while process.poll() is None:
                self._collect_finished(pending, output, started)
                time.sleep(WATCH_INTERVAL_S)
            self._collect_finished(pending, output, started)

        returncode, runner_output = self._run_logged(command, "chai1 runner", commit_while_running)
        elapsed = time.time() - started
        report_file = output / "shard.json"
        if returncode == RUNNER_UNUSABLE or not report_file.is_file():
            raise ShardError(
                f"the Chai-1 runner exited with code {returncode} before predicting "
                f"({len(pending)} targets unfinished):\n{runner_output[-QUOTED_OUTPUT_CHARS:]}"
            )
        report = json.loads(report_file.read_text())
        for target in pending:
            if target.key in self.entries:
                continue
            reason = report["failed"].get(target.key)
            if reason is None:
                raise ShardError(
                    f"the Chai-1 runner exited with code {returncode} leaving target "
                    f"{target.key} unfinished; see the log"
                )
            entry = self._chai1_failure(target, chai1.failure_reason(reason))
            self.entries[target.key] = entry
            self._report(f"failed ({entry.failure}): {target.smiles}: {entry.error}")
        for target in pending:
            self.entries[target.key].runtime_s = report["seconds"].get(target.key, 0.0)
        return elapsed

    def _collect_finished(self, pending: list[Target], output: Path, started: float) -> None:
        """Commit every pending target whose folder the runner has put in place."""
        prediction = self.spec.prediction
        for target in pending:
            folder = output / target.key
            if target.key in self.entries or not folder.is_dir():
                continue
            scores = chai1.read_scores(folder)
            if scores["chai_lab_version"] != prediction["chai_lab"]:
                raise ShardError(
                    f"{chai1.python(self.runtime)} runs chai-lab {scores['chai_lab_version']}, "
                    f"but the screen was planned with chai-lab {prediction['chai_lab']}: "
                    "rebuild the environment (`make chai1`)"
                )
            record = TargetRecord(
                key=target.key,
                status="completed",
                error=None,
                smiles=target.smiles,
                protein_sha256=self.receptor.sequence_sha256,
                msa=record_msa(self.spec.msa_identities),
                **chai1.record_scores(scores),
                seconds_since_shard_start=round(time.time() - started, 3),
                engine="chai1",
                chai_lab_version=scores["chai_lab_version"],
                model=prediction["model"],
                weights=self.spec.weights,
                key_scheme=prediction["key_scheme"],
                computed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            structure = folder / chai1.best_sample(scores)["cif"]
            stored = {"structure.cif": structure, "scores.json": folder / "scores.json"}
            self.store.commit(target.key, stored, record.to_json())
            self.triage.submit(target.key, target.smiles, structure.read_bytes(), ccd=target.ccd)
            entry = self._entry(target, record, "computed")
            entry._local_structure = str(structure)
            self.entries[target.key] = entry
            predicted = sum(e.source == "computed" for e in self.entries.values())
            elapsed = time.time() - started
            self._report(
                f"{predicted}/{len(pending)} predicted, {elapsed / predicted:.1f} s per target "
                f"since the Chai-1 runner started ({elapsed:.0f} s)"
            )

    def _chai1_failure(self, target: Target, error: str):
        """A target the runner failed: recorded (a permanent one is not predicted again)."""
        record = TargetRecord(
            key=target.key,
            status="failed",
            error=error,
            failure=chai1.failure_kind_of(error),
            smiles=target.smiles,
            engine="chai1",
            weights=self.spec.weights,
            computed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        record_failure(self.store, record)
        return self._entry(target, record, "failed")
