"""Predict one shard: reuse what the store has, run one `boltz predict` for the rest.

One Boltz process predicts every missing target of the shard (the model loads once). While
it runs, a watcher commits each target to the store as soon as all of its files are
complete, so a shard killed after k of n targets (preemption, kill -9) resumes with the n-k
that remain. A target is complete when its structure, confidence and (if requested)
affinity files exist and parse; Boltz's exit code alone never decides it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from omtx_hub.boltz_io import (
    PredictionFiles,
    binder_scores,
    boltz_record_id,
    completed_outputs,
    scores,
    write_input,
)
from omtx_hub.boltz_schema import binder_interface_chains, target_molecule
from omtx_hub.config import ConfigError, Model, Runtime
from omtx_hub.failures import failure_kind, record_failure, recorded_failures
from omtx_hub.fileio import sha256_bytes
from omtx_hub.keys import msa_file_identity, server_msa_identity
from omtx_hub.layout import structure_file_name
from omtx_hub.machine import observed_machine
from omtx_hub.molecule_cache import ccd_lookup
from omtx_hub.msa_server import binder_query_id, stored_binder_msa
from omtx_hub.plan_artifact import ShardSpec
from omtx_hub.pose_store import Triage, ccd_cofactors
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.records import (
    Binder,
    ManifestEntry,
    ShardManifest,
    Target,
    TargetRecord,
    write_manifest,
)
from omtx_hub.result_tables import SINGLE_SEQUENCE
from omtx_hub.store import LOOKUP_THREADS, CorruptEntry, ResultStore
from omtx_hub.weights import verify_weights

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 2.0
# Boltz names its results directory after the input directory: boltz_results_<name>.
INPUTS_DIR = "inputs"
RESULTS_DIR = f"out/boltz_results_{INPUTS_DIR}"


def record_msa(identities: dict[str, str]) -> str:
    """A record's `msa`: the MSA identity of a single-chain receptor; with several chains
    each chain entry's, as '<first chain id>=<identity>' joined by '; '."""
    if len(identities) == 1:
        return next(iter(identities.values()))
    return "; ".join(f"{chain}={identity}" for chain, identity in identities.items())


class ShardError(RuntimeError):
    """The shard could not run (environment, crash); Snakemake retries it."""


def cuda_environment() -> str:
    """What torch sees of CUDA here: the GPU, torch's CUDA build, the driver, the visible
    devices (logged by every GPU shard; scripts/gcp_smoke_test.sh prints it)."""
    import torch

    driver = Path("/proc/driver/nvidia/version")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return (
        f"GPU: {gpu}; torch {torch.__version__} built for CUDA "
        f"{torch.version.cuda or 'none (CPU-only build)'}; NVIDIA driver: "
        + (driver.read_text().split("\n")[0] if driver.exists() else "not loaded")
        + f"; CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '(unset)')}"
    )


def resolve_accelerator(accelerator: str, gpu_attached: bool = False) -> str:
    """Boltz's --accelerator for runtime.accelerator. `gpu_attached`: the job was given a
    GPU (a Google Batch VM with `nvidia_gpu`), where the CPU is never a fallback: it would
    take hours per shard, billed, before failing the same way on the retry."""
    if accelerator == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        log.info("%s", cuda_environment())
        return "gpu"
    if accelerator == "gpu" or gpu_attached:
        given = " on a job given a GPU (nvidia_gpu)" if gpu_attached else ""
        raise ShardError(
            f"runtime.accelerator is '{accelerator}'{given} but torch sees no CUDA device "
            f"({cuda_environment()}). Nothing was predicted (docs/google-batch.md, "
            "'No GPU in the job')"
        )
    return "cpu"


def boltz_arguments(
    model: Model, runtime: Runtime, inputs: Path, out_dir: Path, gpu_attached: bool = False
) -> list[str]:
    """The `boltz predict` command line for a directory of inputs."""
    arguments = [sys.executable, "-m", "omtx_hub.boltz_launcher"]
    if runtime.precision != "default":
        arguments += ["--precision", runtime.precision]
    if runtime.deterministic:
        arguments.append("--deterministic")
    # One flag and its value per line, as on a command line (fmt: skip keeps the pairs).
    arguments += [
        "predict",
        str(inputs),
        "--out_dir", str(out_dir),
        "--cache", str(Path(runtime.cache).expanduser()),
        "--accelerator", resolve_accelerator(runtime.accelerator, gpu_attached),
        "--devices", str(runtime.devices),
        "--num_workers", str(runtime.num_workers),
        "--output_format", "mmcif",
        "--recycling_steps", str(model.recycling_steps),
        "--sampling_steps", str(model.sampling_steps),
        "--diffusion_samples", str(model.diffusion_samples),
        "--max_parallel_samples", str(model.max_parallel_samples),
        "--sampling_steps_affinity", str(model.sampling_steps_affinity),
        "--diffusion_samples_affinity", str(model.diffusion_samples_affinity),
        "--override",
    ]  # fmt: skip
    optional = {
        "--step_scale": model.step_scale,
        "--seed": model.seed,
        "--checkpoint": runtime.checkpoint and str(Path(runtime.checkpoint).expanduser()),
        "--affinity_checkpoint": runtime.affinity_checkpoint
        and str(Path(runtime.affinity_checkpoint).expanduser()),
    }
    for flag, value in optional.items():
        if value is not None:
            arguments += [flag, str(value)]
    if model.affinity_mw_correction:
        arguments.append("--affinity_mw_correction")
    if model.use_potentials:
        arguments.append("--use_potentials")
    if not runtime.use_kernels:
        arguments.append("--no_kernels")
    return arguments


@dataclass
class ShardJob:
    """Everything one shard job needs: its spec from the plan (omtx_hub.plan_artifact: the
    targets, their keys and what the keys were made with) and from the config what Boltz
    runs with; built by the workflow script."""

    spec: ShardSpec
    receptor: ReceptorSpec
    msas: dict[str, str]  # each protein chain entry's first id -> 'empty' or its MSA file
    model: Model  # the screen's; Boltz's --seed is the spec's (the shard's replicate's)
    runtime: Runtime
    store: ResultStore
    structures_dir: Path
    manifest: Path
    log_file: Path  # the job's log; Boltz's own output is appended to it
    gpu_attached: bool = False  # the job was given a GPU: never fall back to the CPU
    attempt: int = 1  # Snakemake's attempt of this job: > 1 after a preemption or failure
    # False where the job only assembles a shard the plan found wholly stored
    # (assemble_stored_shard, on the main process): it must not run Boltz there.
    may_predict: bool = True
    entries: dict[str, ManifestEntry] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    watch_error: Exception | None = None
    # sequence -> file of each pending `msa: server` binder's MSA (`_server_binder_msas`).
    binder_msas: dict[str, str] = field(default_factory=dict)
    # The pose checks of the completed targets (omtx_hub.pose_store), made while Boltz predicts.
    triage: Triage | None = None

    @property
    def screen(self) -> str:
        return self.spec.screen

    @property
    def protein(self) -> str:
        return self.spec.protein

    @property
    def shard(self) -> str:
        return self.spec.shard

    @property
    def targets(self) -> list[Target]:
        return self.spec.targets

    def run(self) -> ShardManifest:
        started = time.time()
        self._check_engine_version()
        pending = []
        stored = self.store.stored(target.key for target in self.targets)
        reusable = [target.key for target in self.targets if target.key in stored]
        # Each is read whole and checked (one request per file in a bucket): in parallel.
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            records = dict(zip(reusable, pool.map(self._stored_record, reusable), strict=True))
        for target in self.targets:
            record = records.get(target.key)
            if record is None:
                pending.append(target)
            else:
                self.entries[target.key] = self._entry(target, record, "reused")
        failed_before = self._permanent_failures(pending)
        for target in pending:
            if target.key in failed_before:
                record = failed_before[target.key]
                self.entries[target.key] = self._entry(target, record, "failed")
        pending = [target for target in pending if target.key not in failed_before]
        if pending and not self.may_predict:
            raise ShardError(
                f"{len(pending)} of the shard's targets, all found in the store at planning, "
                "are not there now (a corrupt one is reported above); run the screen again: the "
                "shard then goes to a job that predicts them"
            )
        failed_note = (
            f"{len(failed_before)} failed permanently before (not predicted again), "
            if failed_before
            else ""
        )
        self._report(
            f"{len(self.targets)} targets, {len(stored)} in the store, {failed_note}"
            f"{len(pending)} to predict"
        )
        boltz_seconds = 0.0
        self.triage = Triage(
            self.store,
            self._ligand_chain(),
            ccd_molecules=ccd_lookup(self.runtime.molecule_cache),
            cofactors=ccd_cofactors(self.receptor),
            engine=self.model.engine,
        )
        with tempfile.TemporaryDirectory(prefix=f"omtx-{self.protein}-{self.shard}-") as work:
            if pending:
                self._check_before_predicting(pending, Path(work))
                boltz_seconds = self._predict(pending, Path(work))
            self._export_structures()
        self._check_poses()
        manifest = ShardManifest(
            screen=self.screen,
            protein=self.protein,
            shard=self.shard,
            targets=len(self.targets),
            reused=sum(e.source == "reused" for e in self.entries.values()),
            computed=sum(e.source == "computed" for e in self.entries.values()),
            failed=sum(e.status == "failed" for e in self.entries.values()),
            boltz_wall_s=round(boltz_seconds, 3),
            job_wall_s=round(time.time() - started, 3),
            attempt=self.attempt,
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            records=[self.entries[t.key] for t in self.targets],
            # What the canary of a remote run reports (omtx_hub.canary).
            **({"machine": observed_machine(started)} if pending else {}),
        )
        self._report(
            f"finished: {manifest.reused + manifest.computed} completed "
            f"({manifest.computed} predicted, {manifest.reused} from the store), "
            f"{manifest.failed} failed, in {manifest.job_wall_s:.0f} s"
        )
        write_manifest(manifest, self.manifest)
        return manifest

    def _check_engine_version(self) -> None:
        """The engine here is the version the screen was planned with."""
        planned = self.spec.prediction["boltz"]
        if version("boltz") != planned:
            raise ShardError(
                f"this machine has boltz {version('boltz')} but the screen was planned with "
                f"boltz {planned}; use the same version (container image) everywhere"
            )

    def _check_before_predicting(self, pending: list[Target], work: Path) -> None:
        """The MSAs (the `msa: server` binders' read from the store into `work`) and weights
        are the ones the keys were made with."""
        self._check_msa()
        self.binder_msas = self._server_binder_msas(pending, work)
        try:
            verify_weights(self.spec.weights, self.runtime, affinity=self.model.affinity)
        except ConfigError as error:
            raise ShardError(str(error)) from None

    def _ligand_chain(self) -> str:
        """The screened ligand's chain in the engine's structures."""
        return self.receptor.ligand_chain

    def _stored_record(self, key: str) -> TargetRecord | None:
        """The record of a target in the store; None when its entry fails its seal, which is
        then reported and moved aside (quarantined), so that the target is predicted again."""
        try:
            return TargetRecord.model_validate(self.store.read_record(key))
        except CorruptEntry as error:
            moved_to = self.store.quarantine(key, error.problems)
            self._report(f"{error}; moved to {moved_to}, predicting it again")
            return None

    def _permanent_failures(self, targets: list[Target]) -> dict[str, TargetRecord]:
        """The store's permanent failures among `targets` (none with runtime.retry_failed)."""
        if self.runtime.retry_failed or not targets:
            return {}
        return {
            key: record
            for key, record in recorded_failures(self.store, [t.key for t in targets]).items()
            if record.failure == "permanent"
        }

    def _check_msa(self) -> None:
        """The MSA files are the ones the keys were made with (a changed file, or a server MSA
        replaced in the store by another screen's refresh, would mislabel every result)."""
        for chain, path in self.msas.items():
            actual = (
                SINGLE_SEQUENCE
                if path == "empty"
                else msa_file_identity(path, Path(path).read_bytes())
            )
            keyed = self.spec.msa_identities[chain]
            if actual != keyed:
                raise ShardError(
                    f"the MSA of protein '{self.protein}' chain {chain} ({path}) is {actual}, but "
                    f"its targets were keyed with {keyed}: the file changed after planning. "
                    "Nothing was predicted; run again (`--forcerun fetch_msa` for a server MSA) "
                    "so that the plan and the shard see the same MSA."
                )
        # A binder's MSA file, likewise (DNA and RNA binders have none).
        with_files = {
            t.binder
            for t in self.targets
            if t.binder and t.binder.msa not in (None, "empty", "server")
        }
        for binder in with_files:
            actual = msa_file_identity(binder.msa, Path(binder.msa).read_bytes())
            if actual != binder.msa_identity:
                raise ShardError(
                    f"the MSA of binder {binder.sequence} ({binder.msa}) is {actual}, but its "
                    f"targets were keyed with {binder.msa_identity}: the file changed after "
                    "planning. Nothing was predicted; run again so that the plan and the "
                    "shard see the same MSA."
                )

    def _server_binder_msas(self, pending: list[Target], work: Path) -> dict[str, str]:
        """sequence -> file of each pending `msa: server` binder's MSA, read from the result
        store (its fetch_binder_msas job put it there; sealed, and checked against the MSA
        its targets were keyed with) into `work`, where Boltz reads it."""
        files = {}
        for binder in {t.binder for t in pending if t.binder and t.binder.msa == "server"}:
            query = binder_query_id(binder.sequence, self.runtime)
            content = stored_binder_msa(self.store, query)
            actual = None if content is None else server_msa_identity(sha256_bytes(content))
            if actual != binder.msa_identity:
                raise ShardError(
                    f"the server MSA of binder {binder.sequence} (query {query}) is "
                    f"{actual or 'not in the result store'}, but its targets were keyed with "
                    f"{binder.msa_identity}: another screen refreshed it (runtime.msa_refresh) "
                    "or the store lost it after planning. Nothing was predicted; remove this "
                    "screen's record of it (binder_msa/<batch>.json under results/<screen>/) "
                    "and run again, so that the plan and the shard see the same MSA."
                )
            files[binder.sequence] = work / "binder_msas" / f"{query}.csv"
            files[binder.sequence].parent.mkdir(exist_ok=True)
            files[binder.sequence].write_bytes(content)
        return {sequence: str(path) for sequence, path in files.items()}

    def _report(self, message: str) -> None:
        """A progress line on the job's standard output, which the terminal (local runs) and
        Cloud Logging (Google Batch) show as it is written, and in the job's log."""
        print(f"omtx-hub shard {self.protein}/{self.shard}: {message}", flush=True)
        log.info(message)

    def _entry(self, target: Target, record: TargetRecord, source: str) -> ManifestEntry:
        """A manifest entry: the stored record plus this screen's view of it. `runtime_s`
        is the GPU wall time this shard spent on it (0 when reused)."""
        return ManifestEntry.of(record, **target.placement(), source=source, runtime_s=0.0)

    def _predict(self, pending: list[Target], work: Path) -> float:
        """One `boltz predict` of the `pending` targets (their `msa: server` binders' MSAs as
        `_check_before_predicting` read them)."""
        inputs = work / INPUTS_DIR
        inputs.mkdir()
        msas = {
            chain: msa if msa == "empty" else str(Path(msa).resolve())
            for chain, msa in self.msas.items()
        }
        for target in pending:
            molecule = target_molecule(target)
            if isinstance(molecule, Binder) and molecule.msa == "server":
                molecule = molecule.model_copy(update={"msa": self.binder_msas[molecule.sequence]})
            write_input(
                inputs / f"{boltz_record_id(target.key)}.yaml",
                self.receptor,
                msas,
                molecule,
                affinity=self.model.affinity,
            )
        # The seed of the shard's replicate (model.seed + its number; omtx_hub.plan).
        model = self.model.model_copy(update={"seed": self.spec.prediction["model"]["seed"]})
        command = boltz_arguments(model, self.runtime, inputs, work / "out", self.gpu_attached)
        started = time.time()

        def commit_while_running(process: subprocess.Popen) -> None:
            stop = threading.Event()
            watcher = threading.Thread(
                target=self._watch, args=(pending, work, started, stop, process), daemon=True
            )
            watcher.start()
            try:
                process.wait()
            finally:
                stop.set()
                watcher.join()

        returncode, boltz_output = self._run_logged(command, "boltz predict", commit_while_running)
        if self.watch_error is not None:
            raise ShardError(
                f"committing results to the store failed ({self.watch_error}); boltz predict "
                f"ended with exit code {returncode}; the results committed before are kept, "
                "so a retry predicts only the rest"
            )
        elapsed = time.time() - started
        self._collect(pending, work, started)  # the last ones, after Boltz exited
        log.info("boltz exited with code %d after %.1f s", returncode, elapsed)
        missing = [t for t in pending if t.key not in self.entries]
        if missing and returncode != 0:
            # A crash (CUDA error, missing weights, kill): fail so Snakemake retries; what was
            # committed stays in the store and is not predicted again.
            raise ShardError(
                f"boltz predict exited with code {returncode} leaving {len(missing)} of "
                f"{len(pending)} targets unfinished; see the log"
            )
        for target in missing:
            entry = self._failure(target, boltz_output.replace(f"{work}/", ""))
            self.entries[target.key] = entry
            ligand = target.ccd or target.smiles or target.binder.sequence
            self._report(f"failed ({entry.failure}): {ligand}: {entry.error}")
        # Boltz predicts the shard as one batch, so a target's GPU time is its share of it.
        for target in pending:
            self.entries[target.key].runtime_s = round(elapsed / len(pending), 3)
        return elapsed

    def _run_logged(
        self, command: list[str], name: str, monitor: Callable[[subprocess.Popen], None]
    ) -> tuple[int, str]:
        """Run the engine's `command`, its output appended to the job log under a banner
        naming it (so progress can be watched while it runs), with `monitor(process)`
        committing what it finishes until it has exited; its exit code and what it wrote."""
        log.info("running: %s", " ".join(command))
        with open(self.log_file, "ab") as output:
            output.write(f"----- {name} output -----\n".encode())
            output.flush()
            log_offset = output.tell()
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
            try:
                monitor(process)
            except BaseException:
                # What cannot be committed is lost with the work directory: stop the engine.
                process.kill()
                process.wait()
                raise
        with open(self.log_file, "rb") as written:
            written.seek(log_offset)
            return process.returncode, written.read().decode(errors="replace")

    def _watch(
        self, pending, work: Path, started: float, stop: threading.Event, boltz: subprocess.Popen
    ) -> None:
        try:
            while not stop.wait(WATCH_INTERVAL_S):
                self._collect(pending, work, started)
        except Exception as error:  # reported by _predict once Boltz has exited
            self.watch_error = error
            # What cannot be committed is lost with the work directory, so every further
            # second of Boltz would be wasted GPU time: stop it now and let the job fail.
            log.error("committing to the store failed, stopping boltz predict: %s", error)
            boltz.kill()

    def _collect(self, pending: list[Target], work: Path, started: float) -> None:
        """Commit every pending target whose outputs are complete.

        `work` holds the input YAMLs (one per target) and Boltz's results directory.
        """
        results_dir = work / RESULTS_DIR
        prediction = self.spec.prediction
        for target in pending:
            key = target.key
            with self.lock:
                if key in self.entries:
                    continue
            files = PredictionFiles.under(results_dir, boltz_record_id(key))
            outputs = completed_outputs(files, affinity=self.model.affinity)
            if outputs is None:
                continue
            confidence, affinity = outputs
            binder = {}
            if target.binder is not None:
                interface = binder_interface_chains(self.receptor, target.binder)
                chain = self.receptor.ligand_chain
                binder = binder_scores(confidence, files.structure, chain, *interface)
            record = TargetRecord(
                key=key,
                status="completed",
                error=None,
                smiles=target.smiles,
                protein_sha256=self.receptor.sequence_sha256,
                msa=record_msa(self.spec.msa_identities),
                **scores(confidence, affinity),
                **binder,
                seconds_since_shard_start=round(time.time() - started, 3),
                boltz_version=prediction["boltz"],
                model=prediction["model"],
                precision=prediction["precision"],
                weights=self.spec.weights,
                key_scheme=prediction["key_scheme"],
                computed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            stored = files.stored_files(affinity=self.model.affinity)
            stored["input.yaml"] = work / INPUTS_DIR / f"{boltz_record_id(key)}.yaml"
            self.store.commit(key, stored, record.to_json())
            # Checked on this machine's CPU while Boltz predicts the next targets (a binder's
            # pose is a chain's, which the small-molecule checks do not take).
            if target.binder is None:
                self.triage.submit(key, target.smiles, files.structure.read_bytes(), ccd=target.ccd)
            with self.lock:
                entry = self._entry(target, record, "computed")
                entry._local_structure = str(files.structure)
                self.entries[key] = entry
                predicted = sum(e.source == "computed" for e in self.entries.values())
            elapsed = time.time() - started
            self._report(
                f"{predicted}/{len(pending)} predicted, {elapsed / predicted:.1f} s per target "
                f"since boltz started ({elapsed:.0f} s)"
            )

    def _failure(self, target: Target, boltz_output: str) -> ManifestEntry:
        """A target Boltz wrote no prediction for; its reason is the last line of Boltz's
        output that names it (paths relative to the work directory: the same every run)."""
        record_id = boltz_record_id(target.key)
        reasons = [
            line.strip()
            for line in boltz_output.splitlines()
            if record_id in line and re.search(r"fail|error|skip|memory", line, re.I)
        ]
        error = reasons[-1] if reasons else "Boltz wrote no complete prediction for this target"
        record = TargetRecord(
            key=target.key,
            status="failed",
            error=error,
            failure=failure_kind(error),
            smiles=target.smiles,
            boltz_version=self.spec.prediction["boltz"],
            weights=self.spec.weights,
            computed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        # Recorded for every later run: a permanent one is not predicted again, a retryable
        # one makes the next run of a screen with it run its shard again.
        record_failure(self.store, record)
        return self._entry(target, record, "failed")

    def _check_poses(self) -> None:
        """Attach every completed target's pose checks: those made while Boltz ran, the
        store's, or made now (omtx_hub.pose_store)."""
        started = time.process_time()
        for target in self.targets:
            if self.entries[target.key].status == "completed" and target.binder is None:
                self.triage.submit(target.key, target.smiles, ccd=target.ccd)
        results = self.triage.results()
        for key, triage in results.items():
            self.entries[key].triage = triage
        if results:
            self._report(
                f"pose checks of {len(results)} targets; {time.process_time() - started:.1f} CPU "
                "s of this job's after Boltz"
            )

    def _fetch_structure(self, key: str, destination: Path) -> None:
        try:
            self.store.fetch(key, "structure.cif", destination)
        except CorruptEntry as error:
            moved_to = self.store.quarantine(key, error.problems)
            raise ShardError(
                f"{error} after its record was read; moved to {moved_to}: the retry of this "
                "shard predicts it again"
            ) from None

    def _export_structures(self) -> None:
        """Copy each structure to its download name: {screen}_{protein}_{index}_{ligand}.cif.
        With replicates, replicate 0's only (docs/how-a-screen-runs.md, Replicates: the others
        stay in the store under their keys)."""
        self.structures_dir.mkdir(parents=True, exist_ok=True)
        for entry in self.entries.values():
            local = entry._local_structure
            entry.structures = {}
            if entry.status != "completed" or entry.replicate != 0:
                continue
            for ligand in entry.ligands:
                name = structure_file_name(
                    self.screen, self.protein, ligand.index, ligand.ligand_id
                )
                destination = self.structures_dir / name
                if local:
                    shutil.copyfile(local, destination)
                else:
                    self._fetch_structure(entry.key, destination)
                    local = str(destination)
                entry.structures[ligand.ligand_id] = name
