"""Shard versus one process per ligand, on CPU with the tiny random-weights Boltz-2 model.

Measures the wall time and peak memory (largest process's RSS) of
- (a) one `boltz predict` over a directory of N input YAMLs (a shard: the model loads once),
- (b) N separate `boltz predict` processes, each over its own directory with one YAML,
and prints total wall and seconds per ligand for both, the speed-up (per-process s/ligand
divided by shard s/ligand) and the fixed start-up cost per process this implies. After every
run each ligand's structure, confidence and affinity files are checked; any incomplete
ligand aborts the benchmark.

Settings: cache `.cache/boltz-test` (tiny random weights, built with
`omtx_hub.testing.testcache.build_test_cache` if missing), protein MKTAYIAKQR (10 residues, msa
empty; `--sequence`), N distinct ligands with affinity on: fragments (`--ligand-set fragments`,
the default: 5-10 heavy atoms, `boltz_runs.FRAGMENTS`) or approved drugs (`--ligand-set drugs`: 9-37
heavy atoms, `boltz_runs.DRUGS`), recycling_steps 0, sampling_steps 2, diffusion_samples 1,
sampling_steps_affinity 2, diffusion_samples_affinity 1, seed 0, precision 32, accelerator cpu,
num_workers 0 (`--num-workers`), no kernels,
one CPU thread per process (`--threads`; the machine may be shared, and torch's default of one
thread per core makes timings swing several-fold as soon as anything else runs).
The command line is the workflow's own (`omtx_hub.predict.boltz_arguments`). Random weights
make the predictions meaningless but the work done per ligand is Boltz's real code path.

Why fragments by default: the benchmark isolates what a shard saves, the per-process start-up
(imports, two checkpoint loads), so the compute per ligand should be small next to it. Even the
tiny model runs the CLI-forced 64-block trunk seven times per ligand (once for the structure, six
times in the affinity stage), and its triangle attention has fixed full widths, so on a CPU the
compute per ligand grows steeply with the token count (one trunk block: about 5 ms at 20 tokens,
20 ms at 40, 30 ms at 60). A 10-residue peptide + a fragment is about 18 tokens; 20 residues +
imatinib is 57. `--ligand-set drugs` and a longer `--sequence` measure compute-heavier cases.

Order: the first half of the single-ligand processes, then the shard, then the rest, so that a
drift in the machine's speed during the run affects both modes alike.

    python benchmarks/shard_vs_process.py [--ligands 20] [--ligand-set fragments|drugs]
        [--per-process-sample K] [--threads 1] [--num-workers 0]

With `--per-process-sample K`, only K of the N single-ligand processes are run (spread over
the ligand list) and the per-process total is extrapolated from their mean; the output says so.
"""

from __future__ import annotations

import argparse

from boltz_runs import (
    FAST_MODEL,
    LIGAND_SETS,
    Benchmark,
    Clock,
    Figures,
    ligands,
    limit_cpu_threads,
    work_directory,
)
from common import REPO

from omtx_hub.config import Runtime
from omtx_hub.testing.testcache import build_test_cache

PEPTIDE = "MKTAYIAKQR"
TEST_CACHE = REPO / ".cache" / "boltz-test"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ligands", type=int, default=20, help="ligands (1-20, default 20)")
    parser.add_argument(
        "--ligand-set",
        choices=sorted(LIGAND_SETS),
        default="fragments",
        help="fragments (5-10 heavy atoms, default) or approved drugs (9-37 heavy atoms)",
    )
    parser.add_argument(
        "--per-process-sample",
        type=int,
        default=None,
        metavar="K",
        help="time only K single-ligand processes and extrapolate",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads per Boltz process (default 1; 0 = torch's default, one per core)",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=0,
        help="Boltz data-loader workers (default 0: on 2 cores, 2 workers made the shard "
        "slower, 10.9 vs 9.4 s/ligand)",
    )
    parser.add_argument(
        "--sequence",
        default=PEPTIDE,
        help=f"protein sequence (default {PEPTIDE}; msa empty)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    arguments = parser.parse_args()
    ligand_list = ligands(arguments.ligands, arguments.ligand_set)
    count = len(ligand_list)
    sample = count if arguments.per_process_sample is None else arguments.per_process_sample
    if not 1 <= sample <= count:
        parser.error(f"--per-process-sample must be between 1 and {count}")

    limit_cpu_threads(arguments.threads or None)
    clock = Clock()
    build_test_cache(TEST_CACHE)
    clock.phase(f"tiny test cache ready: {TEST_CACHE.relative_to(REPO)}")
    runtime = Runtime(
        accelerator="cpu",
        precision="32",
        cache=str(TEST_CACHE),
        num_workers=arguments.num_workers,
        use_kernels=False,
    )
    with work_directory("omtx-shard-vs-process-", keep=arguments.keep) as workdir:
        bench = Benchmark(FAST_MODEL, runtime, arguments.sequence, ligand_list, workdir)
        processes = []
        for position in range(sample):
            if position == sample // 2:
                # Mid-way, so that a slow drift of the machine's speed (shared host, caches
                # warming up) weighs on both modes alike.
                shard = bench.shard()
                clock.phase(f"shard of {count}: {shard.wall_s:.1f} s, all outputs complete")
            index = position * count // sample
            run = bench.process(index)
            processes.append(run)
            clock.phase(
                f"process {position + 1}/{sample} ({ligand_list[index][0]}): "
                f"{run.wall_s:.1f} s, outputs complete"
            )

    figures = Figures(shard, processes)
    extrapolated = sample < count
    process_total = figures.process_s_per_ligand * count
    process_peak = max(r.peak_rss_mib for r in processes)
    print()
    print(
        f"CPU, tiny random-weights Boltz-2, fp32, {len(arguments.sequence)}-residue protein, "
        f"{count} {arguments.ligand_set} with affinity, fast sampling, "
        f"{arguments.threads or 'default'} CPU thread(s) per process, "
        f"{arguments.num_workers} data-loader worker(s)"
    )
    print(f"{'mode':<36} {'processes':>9} {'total s':>9} {'s/ligand':>9} {'peak MiB':>9}")
    print(
        f"{'(a) shard: one process, all ligands':<36} {1:>9} {shard.wall_s:>9.1f} "
        f"{figures.shard_s_per_ligand:>9.2f} {shard.peak_rss_mib:>9.0f}"
    )
    label = "(b) one process per ligand"
    total = f"{process_total:.1f}" + ("*" if extrapolated else "")
    print(
        f"{label:<36} {count:>9} {total:>9} "
        f"{figures.process_s_per_ligand:>9.2f} {process_peak:>9.0f}"
    )
    if extrapolated:
        print(
            f"* extrapolated: {sample} of the {count} single-ligand processes were timed "
            f"(measured {sum(r.wall_s for r in processes):.1f} s); total = mean x {count}"
        )
    walls = [r.wall_s for r in processes]
    print(f"per-process wall: min {min(walls):.1f} s, max {max(walls):.1f} s")
    print(f"speed-up (per-process s/ligand / shard s/ligand): {figures.speedup:.2f}x")
    if figures.startup_s is not None:
        print(
            f"implied fixed start-up per process: {figures.startup_s:.1f} s; "
            f"marginal shard time per ligand: {figures.marginal_s_per_ligand:.2f} s"
        )
    print(f"benchmark wall: {clock.elapsed:.1f} s")


if __name__ == "__main__":
    main()
