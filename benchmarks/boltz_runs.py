"""Shared logic of the shard-versus-process benchmarks (shard_vs_process.py, gpu_throughput.py).

A *shard* is one `boltz predict` process over a directory of many input YAMLs (one per
ligand): the model loads once. The alternative is one `boltz predict` process per ligand. This
module writes the inputs, runs both with the exact command line the workflow uses
(`omtx_hub.predict.boltz_arguments`), checks after every run that each ligand's outputs are
complete (`omtx_hub.boltz_io.completed_outputs`; Boltz exits 0 even when inputs fail), and
computes the figures both scripts print.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from common import ENV, REPO, measure

sys.path.insert(0, str(REPO))

from omtx_hub.boltz_io import PredictionFiles, completed_outputs, write_input  # noqa: E402
from omtx_hub.config import Model, Runtime  # noqa: E402
from omtx_hub.predict import boltz_arguments  # noqa: E402
from omtx_hub.receptor import ReceptorSpec  # noqa: E402

# Twenty approved drugs (9 to 37 heavy atoms), all distinct valid SMILES.
DRUGS = [
    ("aspirin", "CC(=O)Oc1ccccc1C(=O)O"),
    ("ibuprofen", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"),
    ("paracetamol", "CC(=O)Nc1ccc(O)cc1"),
    ("caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"),
    ("naproxen", "COc1ccc2cc(ccc2c1)C(C)C(=O)O"),
    ("diclofenac", "OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl"),
    ("celecoxib", "Cc1ccc(cc1)-c1cc(nn1-c1ccc(cc1)S(N)(=O)=O)C(F)(F)F"),
    ("metformin", "CN(C)C(=N)NC(=N)N"),
    ("nicotine", "CN1CCC[C@H]1c1cccnc1"),
    ("lidocaine", "CCN(CC)CC(=O)Nc1c(C)cccc1C"),
    ("propranolol", "CC(C)NCC(O)COc1cccc2ccccc12"),
    ("fluoxetine", "CNCCC(Oc1ccc(cc1)C(F)(F)F)c1ccccc1"),
    ("diazepam", "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc12"),
    ("warfarin", "CC(=O)CC(c1ccccc1)c1c(O)c2ccccc2oc1=O"),
    ("sildenafil", "CCCc1nn(C)c2c1nc([nH]c2=O)-c1cc(ccc1OCC)S(=O)(=O)N1CCN(C)CC1"),
    ("gefitinib", "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1"),
    ("erlotinib", "COCCOc1cc2ncnc(Nc3cccc(c3)C#C)c2cc1OCCOC"),
    ("imatinib", "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(n1)-c1cccnc1"),
    ("dasatinib", "Cc1nc(Nc2ncc(s2)C(=O)Nc2c(C)cccc2Cl)cc(n1)N1CCN(CCO)CC1"),
    ("tofacitinib", "C[C@@H]1CCN(C[C@@H]1N(C)c1ncnc2[nH]ccc12)C(=O)CC#N"),
]

# Twenty fragments (5 to 10 heavy atoms, rule-of-three), all distinct valid SMILES: the inputs
# of a fragment screen. With the tiny model on a CPU, compute per ligand grows steeply with the
# token count (the CLI forces the 64-block trunk with its full-width triangle attention), so
# fragments are the setting in which per-process overhead, not compute, dominates.
FRAGMENTS = [
    ("phenol", "Oc1ccccc1"),
    ("aniline", "Nc1ccccc1"),
    ("benzamide", "NC(=O)c1ccccc1"),
    ("benzoic_acid", "OC(=O)c1ccccc1"),
    ("salicylic_acid", "OC(=O)c1ccccc1O"),
    ("acetanilide", "CC(=O)Nc1ccccc1"),
    ("nicotinamide", "NC(=O)c1cccnc1"),
    ("isoniazid", "NNC(=O)c1ccncc1"),
    ("indole", "c1ccc2[nH]ccc2c1"),
    ("azaindole", "c1cnc2[nH]ccc2c1"),
    ("benzimidazole", "c1ccc2[nH]cnc2c1"),
    ("quinoline", "c1ccc2ncccc2c1"),
    ("aminopyrimidine", "Nc1ncccn1"),
    ("aminothiazole", "Nc1nccs1"),
    ("pyrazole", "c1cn[nH]c1"),
    ("imidazole", "c1c[nH]cn1"),
    ("morpholine", "C1COCCN1"),
    ("piperazine", "C1CNCCN1"),
    ("hydroxybenzoic_acid", "OC(=O)c1ccc(O)cc1"),
    ("phenylacetic_acid", "OC(=O)Cc1ccccc1"),
]

LIGAND_SETS = {"drugs": DRUGS, "fragments": FRAGMENTS}

# Fast sampling for CPU runs with the tiny random-weights model.
FAST_MODEL = Model(
    recycling_steps=0,
    sampling_steps=2,
    diffusion_samples=1,
    sampling_steps_affinity=2,
    diffusion_samples_affinity=1,
    affinity=True,
    seed=0,
)
# Boltz's own defaults (boltz predict with no sampling options), affinity on: the schema's
# defaults are Boltz's.
DEFAULT_MODEL = Model()


@contextmanager
def work_directory(prefix: str, *, keep: bool) -> Iterator[Path]:
    """A scratch directory for the runs, removed afterwards unless `keep`."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        if keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def ligands(count: int, ligand_set: str = "drugs") -> list[tuple[str, str]]:
    """The first `count` molecules of `ligand_set` (a LIGAND_SETS key) as (record id, SMILES);
    record ids are the YAML file stems."""
    library = LIGAND_SETS[ligand_set]
    if not 1 <= count <= len(library):
        raise SystemExit(f"--ligands must be between 1 and {len(library)} (got {count})")
    return [(f"L{i:02d}_{name}", smiles) for i, (name, smiles) in enumerate(library[:count], 1)]


def limit_cpu_threads(threads: int | None) -> None:
    """Give each measured Boltz process `threads` CPU threads (None: leave torch's default).

    On a small shared machine, torch's default (one thread per core) oversubscribes the
    cores as soon as anything else runs, and OpenMP spin-waiting then slows Boltz several
    times over; one thread keeps the timings comparable between runs.
    """
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            ENV[name] = str(threads)


@dataclass
class Run:
    """One `boltz predict` process."""

    ligands: int
    wall_s: float
    peak_rss_mib: float
    extra: dict = field(default_factory=dict)  # e.g. peak GPU memory


@dataclass
class Benchmark:
    """Runs shards and single-ligand processes of one protein against `ligand_list`."""

    model: Model
    runtime: Runtime
    sequence: str
    ligand_list: list[tuple[str, str]]
    workdir: Path
    msa: str = "empty"
    # Entered around each measured run (e.g. to poll GPU memory); fills the dict it yields,
    # which becomes Run.extra.
    monitor: Callable[[], AbstractContextManager[dict]] | None = None

    def _run(self, name: str, batch: list[tuple[str, str]]) -> Run:
        """Write `batch` into its own input directory, run one boltz predict, verify outputs."""
        inputs = self.workdir / name / "inputs"
        out = self.workdir / name / "out"
        shutil.rmtree(self.workdir / name, ignore_errors=True)
        inputs.mkdir(parents=True)
        for record_id, smiles in batch:
            write_input(
                inputs / f"{record_id}.yaml",
                ReceptorSpec.single_chain(self.sequence, self.msa),
                {"A": self.msa},
                smiles,
                affinity=self.model.affinity,
            )
        command = boltz_arguments(self.model, self.runtime, inputs, out)
        with self.monitor() if self.monitor else nullcontext({}) as extra:
            wall, peak = measure(command, cwd=REPO)
        verify_outputs(
            out / f"boltz_results_{inputs.name}",
            [r for r, _ in batch],
            affinity=self.model.affinity,
        )
        return Run(len(batch), wall, peak, extra)

    def shard(self, count: int | None = None) -> Run:
        """One process over the first `count` ligands (all by default)."""
        batch = self.ligand_list[: count or len(self.ligand_list)]
        return self._run(f"shard-{len(batch)}", batch)

    def process(self, index: int) -> Run:
        """One process over ligand `index` alone."""
        record_id, smiles = self.ligand_list[index]
        return self._run(f"process-{index:02d}-{record_id}", [(record_id, smiles)])


def verify_outputs(results_dir: Path, record_ids: list[str], *, affinity: bool) -> None:
    """Raise unless every record has its structure, confidence and (if asked) affinity files."""
    missing = [
        record_id
        for record_id in record_ids
        if completed_outputs(PredictionFiles.under(results_dir, record_id), affinity=affinity)
        is None
    ]
    if missing:
        raise RuntimeError(
            f"boltz predict exited 0 but {len(missing)} of {len(record_ids)} ligands have "
            f"incomplete outputs under {results_dir}: {', '.join(missing)}"
        )


@dataclass
class Figures:
    """Per-ligand figures from one shard run and one or more single-ligand runs."""

    shard: Run
    processes: list[Run]

    @property
    def shard_s_per_ligand(self) -> float:
        return self.shard.wall_s / self.shard.ligands

    @property
    def process_s_per_ligand(self) -> float:
        return sum(r.wall_s for r in self.processes) / len(self.processes)

    @property
    def speedup(self) -> float:
        return self.process_s_per_ligand / self.shard_s_per_ligand

    @property
    def marginal_s_per_ligand(self) -> float | None:
        """Shard time per extra ligand: (T_shard - T_process) / (n - 1), from the model
        T(n) = fixed + n * marginal fitted through the 1-ligand and n-ligand runs."""
        if self.shard.ligands < 2:
            return None
        return (self.shard.wall_s - self.process_s_per_ligand) / (self.shard.ligands - 1)

    @property
    def startup_s(self) -> float | None:
        """Implied fixed cost per process: per-process time minus marginal shard time."""
        marginal = self.marginal_s_per_ligand
        return None if marginal is None else self.process_s_per_ligand - marginal


class Clock:
    """Elapsed time since the benchmark started, printed after each phase."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def phase(self, message: str) -> None:
        print(f"[{self.elapsed:7.1f} s] {message}", flush=True)
