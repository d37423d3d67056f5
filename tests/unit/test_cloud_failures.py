"""Which failures of a remote shard job are deterministic (omtx_hub.cloud_failures): they
stop a Google Batch run unretried (tests/cloud/test_googlebatch.py shows the run)."""

from __future__ import annotations

import pytest

from omtx_hub.cloud_failures import deterministic_failure

JOB = "projects/p/locations/r/jobs/boltz-predict-shard-1"


@pytest.mark.parametrize(
    ("output", "cause", "fix"),
    [
        (
            "ShardError: runtime.accelerator is 'auto' on a job given a GPU (nvidia_gpu) but "
            "torch sees no CUDA device (GPU: no CUDA device; torch 2.5.1 ...)",
            "the container sees no GPU",
            "image family is batch-cos-*",
        ),
        (
            "RuntimeError: The NVIDIA driver on your system is too old (found version 11040).",
            "CUDA could not start on the VM",
            "driver Batch installs supports",
        ),
        (
            "RuntimeError: CUDA error: initialization error",
            "CUDA could not start on the VM",
            "driver Batch installs supports",
        ),
        (
            # A Batch status event: the job's own command never ran.
            "Executing runnable 3 failed: Failed to pull image us-central1-docker.pkg.dev/p/"
            "omtx-hub/boltz:0.1.0: manifest unknown",
            "could not pull the container image",
            "roles/artifactregistry.reader",
        ),
        (
            'denied: Permission "artifactregistry.repositories.downloadArtifacts" denied on '
            "resource",
            "could not pull the container image",
            "gcloud builds submit",
        ),
        (
            "google.api_core.exceptions.Forbidden: 403 GET https://storage.googleapis.com/"
            "storage/v1/b/bkt?projection=noAcl: sa@p.iam.gserviceaccount.com does not have "
            "storage.buckets.get access to the Google Cloud Storage bucket.",
            "denied access to the Cloud Storage bucket",
            "roles/storage.legacyBucketReader",
        ),
        (
            "ShardError: the structure checkpoint /root/.boltz/boltz2_conf.ckpt has sha256 "
            "ab12, but the screen was planned with cd34: the weights changed after planning",
            "weights in the image are missing",
            "build the image again",
        ),
        (
            "ShardError: Boltz-2's cache /root/.boltz (runtime.cache) lacks boltz2_conf.ckpt, "
            "which boltz predict needs",
            "weights in the image are missing",
            "build the image again",
        ),
        (
            "ShardError: this machine has boltz 2.2.0 but the screen was planned with boltz "
            "2.2.1; use the same version (container image) everywhere",
            "not the version the screen was planned with",
            "same omtx-hub and Boltz",
        ),
    ],
    ids=[
        "no-gpu",
        "old-driver",
        "cuda-init",
        "image-missing",
        "registry-denied",
        "bucket-denied",
        "wrong-weights",
        "missing-weights",
        "boltz-version",
    ],
)
def test_deterministic_causes_are_named_with_their_fix(output, cause, fix):
    failure = deterministic_failure(JOB, ["starting\n", f"INFO something\n{output}\n"])
    assert failure is not None
    assert cause in failure.message and fix in failure.message.split("Fix: ")[1]
    assert JOB in failure.message and output[:60] in failure.message
    assert "not retried and no further shard is submitted" in failure.message


@pytest.mark.parametrize(
    "output",
    [
        "Task state is updated from RUNNING to FAILED on zones/us-central1-a/instances/x due "
        "to Spot VM preemption with exit code 50001.",
        "ShardError: boltz predict exited with code -9 leaving 3 of 5 targets unfinished",
        "google.api_core.exceptions.ServiceUnavailable: 503 GET https://storage.googleapis.com",
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "",
    ],
    ids=["preempted", "crash", "transient-503", "out-of-memory", "no-output"],
)
def test_other_failures_are_retried(output):
    assert deterministic_failure(JOB, [output]) is None
