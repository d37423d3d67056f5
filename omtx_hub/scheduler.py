"""What a run through an HPC scheduler (the Slurm profile) asks of its shard jobs, checked
before any job is submitted."""

from __future__ import annotations

from omtx_hub.config import ConfigError


def check_shard_gpus(accelerator: str, gpus: list[int], executor: str) -> None:
    """A shard job given no GPU runs Boltz on its CPUs only where runtime.accelerator says so:
    `gpus` is the `gpu` resource of each shard job about to be submitted to `executor`."""
    if accelerator != "cpu" and any(count == 0 for count in gpus):
        raise ConfigError(
            f"The shard jobs ask {executor} for no GPU (resource gpu=0, as on a CPU partition) "
            f"but runtime.accelerator is '{accelerator}': set `runtime.accelerator: cpu` in the "
            "screen's config to predict on CPUs (slow: small screens and tests), or ask for a "
            "GPU (profiles/slurm, set-resources: boltz_predict_shard: gpu). Nothing was submitted."
        )
