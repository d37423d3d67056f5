"""Failures of a remote shard job that would happen again on every attempt and every shard.

A job on a VM of its own fails the same way on the next VM when the cause is in the setup,
not in the machine: no GPU visible in the container, CUDA that cannot start, an image the VM
cannot pull, a bucket the VM's service account may not use, weights missing or not the
planned ones. `deterministic_failure` recognises them in what the job left: its output (the
error each job writes to its standard error, omtx_hub.joblog, which Cloud Logging keeps) and
the Batch job's status events (where an image pull failure is reported: the job's own
command never ran). omtx_hub.batch_status stops the run on the first one: no retry, no
further shard submitted, one message naming the cause and the fix.

Everything else (a preempted VM, a transient API error, a crash) is retried as before, up to
`sharding.attempts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GUIDE = "docs/google-batch.md"


@dataclass(frozen=True)
class Cause:
    name: str
    pattern: re.Pattern
    what: str
    fix: str


CAUSES = (
    Cause(
        "no GPU",
        # omtx_hub.predict.resolve_accelerator, on a job given a GPU.
        re.compile(r"torch sees no CUDA device"),
        "the container sees no GPU although its VM was given one",
        "check that the image family is batch-cos-* (the plugin then installs the GPU driver "
        "and passes the GPU into the container) and that the image's torch is a CUDA build; "
        f"scripts/gcp_smoke_test.sh prints what a job sees ({GUIDE}, 'No GPU in the job')",
    ),
    Cause(
        "CUDA init",
        re.compile(
            r"CUDA driver version is insufficient|NVIDIA driver on your system is too old|"
            r"Found no NVIDIA driver|CUDA error: initialization error|"
            r"cudaErrorInitializationError|Driver/library version mismatch|"
            r"no CUDA-capable device is detected",
            re.IGNORECASE,
        ),
        "CUDA could not start on the VM (its driver does not fit the image's torch)",
        "use an image whose torch CUDA build the driver Batch installs supports (the canary "
        f"report and scripts/gcp_smoke_test.sh print both versions; {GUIDE}, 'No GPU in the "
        "job')",
    ),
    Cause(
        "image pull",
        re.compile(
            r"Failed to pull image|pull access denied|manifest unknown|"
            r"Error response from daemon: .*(?:denied|not found|unauthorized)|"
            r"artifactregistry\.repositories\.downloadArtifacts",
            re.IGNORECASE,
        ),
        "the VM could not pull the container image",
        "check that the image exists at the tag googlebatch-container names (`gcloud "
        "artifacts docker images list REGION-docker.pkg.dev/PROJECT/omtx-hub`; build it with "
        "`gcloud builds submit`) and that the VMs' service account has "
        f"roles/artifactregistry.reader on the repository ({GUIDE}, step 1)",
    ),
    Cause(
        "bucket permission",
        re.compile(
            r"does not have storage\.\w+\.\w+ access|"
            r"Permission '?storage\.\w+\.\w+'? denied|"
            r"403 (?:GET|POST|PUT|PATCH|DELETE) https://storage\.googleapis\.com",
            re.IGNORECASE,
        ),
        "the job was denied access to the Cloud Storage bucket",
        "grant the VMs' service account roles/storage.objectAdmin and "
        f"roles/storage.legacyBucketReader on the bucket ({GUIDE}, step 1b)",
    ),
    Cause(
        "weights",
        # omtx_hub.weights (verify_weights, prepare_cache), raised by the shard job.
        re.compile(
            r"checkpoint \S+ has sha256 \w+, but the screen was planned|"
            r"Boltz-2's cache \S+ \(runtime\.cache\) (?:lacks|holds damaged files)|"
            r"the \w+ checkpoint \S+ does not exist"
        ),
        "the Boltz weights in the image are missing, damaged or not the ones the screen was "
        "planned with",
        "build the image again (cloudbuild.yaml bakes the released weights in) and plan with "
        "the same weights the image holds",
    ),
    Cause(
        "Boltz version",
        # omtx_hub.predict.ShardJob.run
        re.compile(r"this machine has boltz \S+ but the screen was planned with boltz"),
        "the image's Boltz is not the version the screen was planned with",
        "plan with the same omtx-hub and Boltz as the image (or build the image again from "
        "this checkout)",
    ),
)


@dataclass(frozen=True)
class DeterministicFailure:
    cause: Cause
    evidence: str  # the line that shows it
    job: str

    @property
    def message(self) -> str:
        return (
            f"Stopping the run: {self.cause.what} (job {self.job}: {self.evidence.strip()}). "
            "This would fail every attempt of every shard the same way: it is not retried and "
            "no further shard is submitted; the shards already running finish. "
            f"Fix: {self.cause.fix}. Then run the same command again (what finished is kept)."
        )


def deterministic_failure(job: str, texts: list[str]) -> DeterministicFailure | None:
    """The first deterministic cause any line of `texts` (the job's output, its status
    events) shows; None for a failure worth retrying."""
    for text in texts:
        for line in text.splitlines():
            for cause in CAUSES:
                if cause.pattern.search(line):
                    return DeterministicFailure(cause, line[:500], job)
    return None
