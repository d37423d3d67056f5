"""What a shard job sees of the machine it runs on: the GPU torch finds, the CUDA version
torch was built for, the NVIDIA driver, the image, and how long the machine took to start
before the job did. Recorded in the shard's manifest (records.MachineSeen); the canary's
report (omtx_hub.canary) shows it before a remote run fans out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from omtx_hub.records import MachineSeen

NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
UPTIME = Path("/proc/uptime")
# Set by whoever knows the image's digest (a container sees only its tag, if that): the
# digest the job ran is recorded when this is set.
IMAGE_DIGEST_VARIABLE = "OMTX_IMAGE_DIGEST"


def machine_uptime_s() -> float | None:
    """Seconds since the machine booted (the host's: a container shares its kernel)."""
    try:
        return float(UPTIME.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def observed_machine(job_started: float) -> MachineSeen:
    """This machine as torch sees it; `job_started`: the job's start (time.time())."""
    import torch

    uptime = machine_uptime_s()
    return MachineSeen(
        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device",
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        driver=NVIDIA_DRIVER.read_text().split("\n")[0] if NVIDIA_DRIVER.exists() else None,
        image_digest=os.environ.get(IMAGE_DIGEST_VARIABLE) or None,
        vm_startup_s=(
            None if uptime is None else round(max(0.0, uptime - (time.time() - job_started)), 1)
        ),
    )
