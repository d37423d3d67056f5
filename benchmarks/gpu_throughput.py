"""GPU throughput of Boltz-2 virtual screening: a shard (one process, model loaded once) versus
one `boltz predict` process per ligand, with a full-size model and Boltz's default sampling.

Measures, on one GPU:
- a shard: one `boltz predict` over a directory of `--shard-ligands` (default 8) input YAMLs;
- `--process-ligands` (default 2) separate `boltz predict` processes of one YAML each;
and prints seconds per ligand for both, the speed-up (per-process s/ligand divided by shard
s/ligand), the marginal shard time per ligand and the implied fixed start-up cost per process
(fitting T(n) = start-up + n x marginal through the 1-ligand and n-ligand runs: marginal =
(T_shard - T_process) / (n - 1), start-up = T_process - marginal), the GPU name, the peak GPU
memory of each run (nvidia-smi polled every 0.5 s, minus the reading before the run; skipped
with a note when nvidia-smi is absent), the peak RSS, and the elapsed time after every phase.
After each run every ligand's structure, confidence and affinity files are checked.

Settings: a cache of random-weights models at the released model's hyper-parameters (about
2 GB per checkpoint; built with `omtx_hub.testing.testcache.build_test_cache(full_size=True)` under
`.cache/benchmarks/full-size-cache`, or `--cache`, and reused afterwards), so the compute per
ligand is the real model's (trunk and diffusion sizes are the ones the CLI forces; the affinity
head's size is a best guess). Protein: the ABL1 kinase domain (273 residues), msa empty.
Ligands: approved drugs (`boltz_runs.DRUGS`) with affinity. Boltz's default sampling:
recycling_steps 3, sampling_steps 200, diffusion_samples 1, sampling_steps_affinity 200,
diffusion_samples_affinity 5, seed 0; default precision (bf16-mixed); accelerator gpu;
num_workers 2 (the workflow default); cuEquivariance kernels when `cuequivariance_torch` is
installed, otherwise --no_kernels. Command lines come from `omtx_hub.predict.boltz_arguments`.
The checkpoint files are read once before timing, so no run pays for cold disk reads.

Order: one single-ligand process, then the shard, then the remaining single-ligand processes,
which are skipped (the output says so) once the elapsed time would exceed `--budget-s`
(default 420 s, counted from the start, cache build included). On an H200-class GPU the
defaults finish in under 8 minutes.

    python benchmarks/gpu_throughput.py [--shard-ligands 8] [--process-ligands 2]
        [--budget-s 420] [--cache DIR] [--tiny] [--allow-cpu] [--threads N]

Without a CUDA GPU visible to torch it exits with status 2, unless `--allow-cpu` is given:
then it runs on the CPU with precision 32 (for smoke tests). `--tiny` uses the tiny test model
(`.cache/boltz-test` unless `--cache`) and fast sampling (recycling 0, 2 steps, 1 sample) to
check the code path; its figures say nothing about production throughput. On a 2-core CPU even
the tiny model takes over 9 minutes per process for the 273-residue protein, so CPU smoke tests
also pass a short `--sequence` (e.g. MKTAYIAKQRQISFVKSHFS).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from boltz_runs import (
    DEFAULT_MODEL,
    FAST_MODEL,
    Benchmark,
    Clock,
    Figures,
    Run,
    ligands,
    limit_cpu_threads,
    work_directory,
)
from common import CACHE, REPO

from omtx_hub.boltz_cache import AFFINITY_CHECKPOINT, STRUCTURE_CHECKPOINT, build_test_cache
from omtx_hub.config import Runtime

ABL1_KINASE_DOMAIN = (
    "VSPNYDKWEMERTDITMKHKLGGGQYGEVYEGVWKKYSLTVAVKTLKEDTMEVEEFLKEAAVMKEIKHPNLVQLLGVCTREPPFYII"
    "TEFMTYGNLLDYLRECNRQEVNAVVLLYMATQISSAMEYLEKKNFIHRDLAARNCLVGENHLVKVADFGLSRLMTGDTYTAHAGAKF"
    "PIKWTAPESLAYNKFSIKSDVWAFGVLLWEIATYGMSPYPGIDLSQVYELLEKDYRMERPEGCPEKVYELMRACWQWNPSDRPSFAE"
    "IHQAFETMFQES"
)
FULL_SIZE_CACHE = CACHE / "full-size-cache"
TINY_CACHE = REPO / ".cache" / "boltz-test"


def cuda_device_name() -> str | None:
    """The name of CUDA device 0 as torch sees it, or None without a usable CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0)


def _nvidia_smi_index() -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return visible if visible.isdigit() else "0"


class GpuMemory:
    """Peak `memory.used` of the GPU during a run, from nvidia-smi polled every 0.5 s."""

    def __init__(self) -> None:
        self.available = shutil.which("nvidia-smi") is not None

    def _read(self) -> float:
        output = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=memory.used",
                "--format=csv,noheader,nounits",
                "-i",
                _nvidia_smi_index(),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return float(output.split()[0])

    @contextlib.contextmanager
    def __call__(self) -> Iterator[dict]:
        extra: dict = {}
        if not self.available:
            yield extra
            return
        baseline = self._read()
        readings = [baseline]
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.5):
                with contextlib.suppress(Exception):
                    readings.append(self._read())

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield extra
        finally:
            stop.set()
            thread.join()
            extra["gpu_peak_mib"] = max(readings) - baseline
            extra["gpu_baseline_mib"] = baseline


def warm_page_cache(cache: Path) -> None:
    """Read the checkpoints once so that the first timed run does not pay for the disk."""
    for name in (STRUCTURE_CHECKPOINT, AFFINITY_CHECKPOINT):
        with open(cache / name, "rb") as handle:
            while handle.read(64 << 20):
                pass


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shard-ligands", type=int, default=8, help="ligands in the shard")
    parser.add_argument(
        "--process-ligands", type=int, default=2, help="single-ligand processes to run"
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=420,
        help="skip the remaining single-ligand runs once this many seconds would be exceeded",
    )
    parser.add_argument("--cache", type=Path, default=None, help="Boltz cache directory")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny test model and fast sampling (code-path check)"
    )
    parser.add_argument(
        "--allow-cpu", action="store_true", help="without a CUDA GPU, run on CPU with fp32"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads per Boltz process (default: torch's)"
    )
    parser.add_argument(
        "--sequence",
        default=ABL1_KINASE_DOMAIN,
        help="protein sequence (default: the ABL1 kinase domain; a short one for CPU smoke tests)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    arguments = parser.parse_args()
    if arguments.process_ligands < 1 or arguments.shard_ligands < 1:
        parser.error("--shard-ligands and --process-ligands must be at least 1")
    if arguments.process_ligands > arguments.shard_ligands:
        parser.error("--process-ligands cannot exceed --shard-ligands (they are shard ligands)")

    clock = Clock()
    gpu_name = cuda_device_name()
    if gpu_name is None and not arguments.allow_cpu:
        print(
            "error: torch sees no CUDA GPU; this benchmark is for GPU machines "
            "(use --allow-cpu to smoke-test it on the CPU)",
            file=sys.stderr,
        )
        return 2
    on_gpu = gpu_name is not None
    limit_cpu_threads(arguments.threads)
    clock.phase(f"device: {gpu_name or 'CPU (no CUDA GPU; --allow-cpu)'}")

    cache = arguments.cache or (TINY_CACHE if arguments.tiny else FULL_SIZE_CACHE)
    build_test_cache(cache, full_size=not arguments.tiny)
    warm_page_cache(cache)
    size = "tiny" if arguments.tiny else "full-size"
    clock.phase(f"{size} random-weights cache ready and read once: {cache}")

    kernels = on_gpu and importlib.util.find_spec("cuequivariance_torch") is not None
    runtime = Runtime(
        accelerator="gpu" if on_gpu else "cpu",
        precision="default" if on_gpu else "32",
        cache=str(cache),
        num_workers=2 if on_gpu else 0,
        use_kernels=kernels,
    )
    model = FAST_MODEL if arguments.tiny else DEFAULT_MODEL
    ligand_list = ligands(arguments.shard_ligands)
    count, wanted = len(ligand_list), arguments.process_ligands
    order = [position * count // wanted for position in range(wanted)]
    monitor = GpuMemory() if on_gpu else None
    with work_directory("omtx-gpu-throughput-", keep=arguments.keep) as workdir:
        bench = Benchmark(model, runtime, arguments.sequence, ligand_list, workdir, monitor=monitor)
        processes: list[Run] = []
        skipped = 0
        processes.append(bench.process(order[0]))
        clock.phase(
            f"process 1/{wanted} ({ligand_list[order[0]][0]}): {processes[0].wall_s:.1f} s, "
            "outputs complete"
        )
        shard = bench.shard()
        clock.phase(f"shard of {count}: {shard.wall_s:.1f} s, all outputs complete")
        for position, index in enumerate(order[1:], 2):
            expected = sum(r.wall_s for r in processes) / len(processes)
            if clock.elapsed + expected > arguments.budget_s:
                skipped = wanted - position + 1
                clock.phase(
                    f"budget of {arguments.budget_s:.0f} s would be exceeded (a process takes "
                    f"about {expected:.0f} s): skipping the remaining {skipped} single-ligand runs"
                )
                break
            processes.append(bench.process(index))
            clock.phase(
                f"process {position}/{wanted} ({ligand_list[index][0]}): "
                f"{processes[-1].wall_s:.1f} s, outputs complete"
            )

    figures = Figures(shard, processes)
    print()
    sampling = "fast sampling (--tiny)" if arguments.tiny else "Boltz default sampling"
    print(
        f"{gpu_name or 'CPU'}: {size} random-weights Boltz-2, precision {runtime.precision}, "
        f"kernels {'on' if kernels else 'off'}, {len(arguments.sequence)}-residue protein, "
        f"affinity on, {sampling}"
    )

    def gpu_peak(runs: list[Run]) -> str:
        peaks = [r.extra["gpu_peak_mib"] for r in runs if "gpu_peak_mib" in r.extra]
        return f"{max(peaks):.0f}" if peaks else "n/a"

    print(
        f"{'mode':<30} {'processes':>9} {'ligands':>7} {'wall s':>8} {'s/ligand':>9} "
        f"{'RSS MiB':>8} {'GPU MiB':>8}"
    )
    print(
        f"{'shard (one process)':<30} {1:>9} {count:>7} {shard.wall_s:>8.1f} "
        f"{figures.shard_s_per_ligand:>9.2f} {shard.peak_rss_mib:>8.0f} {gpu_peak([shard]):>8}"
    )
    print(
        f"{'one process per ligand':<30} {len(processes):>9} {len(processes):>7} "
        f"{sum(r.wall_s for r in processes):>8.1f} {figures.process_s_per_ligand:>9.2f} "
        f"{max(r.peak_rss_mib for r in processes):>8.0f} {gpu_peak(processes):>8}"
    )
    if skipped:
        print(f"({skipped} of the {wanted} single-ligand runs skipped for the time budget)")
    if monitor is None or not monitor.available:
        print(
            "GPU MiB: not measured (" + ("no GPU" if not on_gpu else "nvidia-smi not found") + ")"
        )
    else:
        print("GPU MiB: peak nvidia-smi memory.used during the run minus the reading before it")
    if figures.marginal_s_per_ligand is not None:
        print(f"marginal shard time per ligand: {figures.marginal_s_per_ligand:.2f} s")
        print(f"implied fixed start-up cost per process: {figures.startup_s:.1f} s")
    print(f"speed-up (per-process s/ligand / shard s/ligand): {figures.speedup:.2f}x")
    print(f"total benchmark wall: {clock.elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
