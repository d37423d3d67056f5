"""A shard job sent to a scheduler without a GPU predicts on CPUs only when the config says
`runtime.accelerator: cpu` (omtx_hub.scheduler.check_shard_gpus)."""

from __future__ import annotations

import pytest

from omtx_hub.config import ConfigError
from omtx_hub.scheduler import check_shard_gpus


@pytest.mark.parametrize("accelerator", ["auto", "gpu"])
def test_a_shard_without_a_gpu_needs_the_cpu_said_explicitly(accelerator):
    with pytest.raises(ConfigError) as error:
        check_shard_gpus(accelerator, [1, 0], "slurm")
    message = str(error.value)
    assert (
        "ask slurm for no GPU" in message and f"runtime.accelerator is '{accelerator}'" in message
    )
    assert "`runtime.accelerator: cpu`" in message


@pytest.mark.parametrize(
    ("accelerator", "gpus"), [("cpu", [0, 0]), ("auto", [1, 1]), ("gpu", [2]), ("cpu", [1])]
)
def test_gpus_given_or_the_cpu_asked_for_pass(accelerator, gpus):
    check_shard_gpus(accelerator, gpus, "slurm")
