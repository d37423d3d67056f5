"""The Google Batch pre-flight checks, one rule at a time, on the plugin's settings/resources.

(The end-to-end test in tests/cloud/test_googlebatch.py shows that a failed check stops a real
`snakemake --executor googlebatch` run before any VM request; these show that each rule holds.)
"""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from omtx_hub.cloud import (
    MAX_SHIPPED_FILE_BYTES,
    MIN_BOOT_DISK_GB,
    CloudSetupError,
    bucket_of,
    check_batch_jobs,
    check_remote_storage,
    check_sources_shipped,
    untracked,
)
from omtx_hub.config import load_config
from tests.screens import write_screen

RULE = "boltz_predict_shard"
IMAGE = "us-central1-docker.pkg.dev/my-project/omtx-hub/boltz:0.1.0"
COS_BOOT_IMAGE = "projects/batch-custom-image/global/images/family/batch-cos-stable-official"


def settings(**changes) -> SimpleNamespace:
    """Executor settings as profiles/googlebatch sets them."""
    values = {
        "project": "my-project",
        "region": "us-central1",
        "image_family": "batch-cos-stable-official",
        "container": IMAGE,
        "boot_disk_image": COS_BOOT_IMAGE,
        "boot_disk_gb": 100,
        "machine_type": "c2-standard-4",
    }
    return SimpleNamespace(**{**values, **changes})


GPU_JOB = {"nvidia_gpu": "nvidia-l4", "googlebatch_machine_type": "g2-standard-8"}


def problems(job_settings, resources=GPU_JOB) -> str:
    with pytest.raises(CloudSetupError) as error:
        check_batch_jobs(job_settings, [(RULE, resources)])
    return str(error.value)


def test_the_profile_setup_passes():
    check_batch_jobs(settings(), [(RULE, GPU_JOB), ("aggregate_screen", {})])


@pytest.mark.parametrize("boot_disk_image", [None, "projects/debian-cloud/global/images/debian-12"])
def test_a_boot_disk_without_the_cos_image_is_refused(boot_disk_image):
    # The plugin replaces the family's boot disk by one built from the boot disk settings
    # alone: without the COS image there, the VM boots another image.
    message = problems(settings(boot_disk_image=boot_disk_image))
    assert "is not the Container-Optimized OS image" in message
    assert f"set it to {COS_BOOT_IMAGE}" in message


MACHINE_OF_GPU = {
    "nvidia-l4": "g2-standard-8",
    "nvidia-tesla-a100": "a2-highgpu-1g",
    "nvidia-h100-80gb": "a3-highgpu-1g",
    "nvidia-tesla-t4": "n1-standard-8",
}


@pytest.mark.parametrize(("gpu", "machine"), MACHINE_OF_GPU.items())
def test_each_gpu_passes_on_its_own_machine_series(gpu, machine):
    check_batch_jobs(settings(), [(RULE, {"nvidia_gpu": gpu, "googlebatch_machine_type": machine})])


@pytest.mark.parametrize(
    ("job_settings", "resources", "message"),
    [
        (settings(project=None), GPU_JOB, "project 'None' is not a project id"),
        (settings(project="My_Project"), GPU_JOB, "project 'My_Project' is not a project id"),
        (settings(region=None), GPU_JOB, "region 'None' is not a region"),
        (settings(region="us-central1-a"), GPU_JOB, "region 'us-central1-a' is not a region"),
        (
            settings(image_family="debian-12"),
            GPU_JOB,
            f"{RULE}: image family 'debian-12' is not Container-Optimized OS",
        ),
        (settings(image_family=None), GPU_JOB, "image family '' is not Container-Optimized OS"),
        (
            settings(),
            {**GPU_JOB, "googlebatch_image_family": "hpc-rocky-linux-8"},
            "image family 'hpc-rocky-linux-8' is not Container-Optimized OS",
        ),
        (settings(container=None), GPU_JOB, f"{RULE}: no container image ('')"),
        (
            settings(container="${REGION}-docker.pkg.dev/p/r/boltz:1"),
            GPU_JOB,
            "no container image ('${REGION}-docker.pkg.dev/p/r/boltz:1')",
        ),
        (settings(boot_disk_gb=None), GPU_JOB, f"{RULE}: boot disk None GB"),
        (
            settings(boot_disk_gb=MIN_BOOT_DISK_GB - 1),
            GPU_JOB,
            f"boot disk {MIN_BOOT_DISK_GB - 1} GB; the Boltz image needs at least "
            f"{MIN_BOOT_DISK_GB} GB",
        ),
        (settings(), {**GPU_JOB, "googlebatch_boot_disk_gb": 30}, "boot disk 30 GB"),
        (
            settings(),
            {**GPU_JOB, "googlebatch_machine_type": "n1-standard-8"},
            "machine type 'n1-standard-8' cannot carry GPU 'nvidia-l4'; "
            "it needs a g2-* machine type",
        ),
        (
            settings(),
            {**GPU_JOB, "nvidia_gpu": "nvidia-tesla-a100"},
            "cannot carry GPU 'nvidia-tesla-a100'; it needs a a2-highgpu-* or a2-megagpu-* machine",
        ),
        # An integer count means the plugin's default GPU, a T4, which needs an N1 machine.
        (
            settings(),
            {"nvidia_gpu": 1, "googlebatch_machine_type": "g2-standard-8"},
            "cannot carry GPU 'nvidia-tesla-t4'; it needs a n1-* machine type",
        ),
        (settings(), {"nvidia_gpu": "nvidia-rtx-9000"}, "unknown GPU type 'nvidia-rtx-9000'"),
    ],
    ids=[
        "no-project",
        "bad-project",
        "no-region",
        "zone-not-region",
        "not-cos",
        "no-family",
        "rule-family-not-cos",
        "no-container",
        "unexpanded-container",
        "no-boot-disk",
        "small-boot-disk",
        "rule-small-boot-disk",
        "l4-on-n1",
        "a100-on-g2",
        "count-means-t4",
        "unknown-gpu",
    ],
)
def test_each_setup_mistake_is_refused_naming_it(job_settings, resources, message):
    assert message in problems(job_settings, resources)


def test_the_minimum_boot_disk_is_enough():
    check_batch_jobs(settings(boot_disk_gb=MIN_BOOT_DISK_GB), [(RULE, GPU_JOB)])


def test_a_rule_resource_overrides_the_setting():
    resources = {**GPU_JOB, "googlebatch_boot_disk_gb": 80}
    check_batch_jobs(settings(boot_disk_gb=10), [(RULE, resources)])


def test_every_problem_of_every_rule_is_listed_once():
    message = problems(
        settings(boot_disk_gb=10, image_family="debian-12"),
        {"nvidia_gpu": "nvidia-l4", "googlebatch_machine_type": "n1-standard-8"},
    )
    assert message.startswith("Google Batch setup problems (nothing was submitted):")
    assert message.count("\n  - ") == 3
    assert "image family" in message and "boot disk" in message and "cannot carry" in message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gs://${OMTX_BUCKET}/x", "still contains $OMTX_BUCKET"),
        ("s3://bucket/x", "must be a Cloud Storage URL"),
        ("gs://Bad_Bucket/x", "'Bad_Bucket' is not a valid bucket name"),
        ("gs://ab/x", "'ab' is not a valid bucket name"),
    ],
)
def test_bucket_urls(url, message):
    with pytest.raises(CloudSetupError, match="store") as error:
        bucket_of(url, "config key 'store'")
    assert message in str(error.value)


def test_a_valid_bucket_url():
    assert bucket_of("gs://omtx-results_1/screens/x", "store") == "omtx-results_1"


@pytest.fixture
def checkout(tmp_path):
    """A git checkout holding a screen whose sheet and MSA file are tracked."""
    raw = write_screen(tmp_path, store="gs://omtx-results/store")
    msa = tmp_path / "p1.a3m"
    msa.write_text(">query\nMKTAYIAKQRQISFVKSHFS\n")
    raw["proteins"] = [{"name": "P1", "sequence": "MKTAYIAKQRQISFVKSHFS", "msa": str(msa)}]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "ligands.csv", "p1.a3m"], cwd=tmp_path, check=True)
    return tmp_path, raw


def test_remote_storage_setup_passes(checkout):
    workdir, raw = checkout
    check_remote_storage(load_config(raw), "gcs", "gs://omtx-results/work", workdir)


@pytest.mark.parametrize(
    ("provider", "prefix", "store", "message"),
    [
        ("gcs", None, None, "--default-storage-prefix '' must be a Cloud Storage URL"),
        ("gcs", "gs://Bad/x", None, "--default-storage-prefix 'gs://Bad/x': 'Bad' is not a valid"),
        (
            "gcs",
            "gs://omtx-results/w",
            "results/store",
            "the result store must be in Cloud Storage, e.g. store: gs://BUCKET/omtx-hub/store",
        ),
        ("s3", None, "results/store", "config key 'store' 'results/store' must be a Cloud Storage"),
    ],
)
def test_remote_storage_mistakes(checkout, provider, prefix, store, message):
    workdir, raw = checkout
    if store:
        raw["store"] = store
    with pytest.raises(CloudSetupError) as error:
        check_remote_storage(load_config(raw), provider, prefix, workdir)
    assert message in str(error.value)


def test_an_untracked_msa_is_named_with_the_git_add_to_run(checkout):
    workdir, raw = checkout
    subprocess.run(["git", "rm", "-q", "--cached", "p1.a3m"], cwd=workdir, check=True)
    with pytest.raises(CloudSetupError) as error:
        check_remote_storage(load_config(raw), "gcs", "gs://omtx-results/w", workdir)
    assert f"git add {workdir / 'p1.a3m'}" in str(error.value)
    assert str(workdir / "p1.a3m") + " not tracked by git" in str(error.value)


def test_an_untracked_or_too_big_binder_msa_is_refused(checkout):
    # A binder screen's MSA files, from the sheet, are checked once the plan has read them
    # (workflow/rules/common.smk); the Batch run: tests/cloud/test_googlebatch.py
    # test_a_binder_msa_file_travels_to_the_vm_like_a_receptor_msa.
    workdir, _ = checkout
    binder_msa = workdir / "binder.a3m"
    binder_msa.write_text(">query\nGSWAE\n")
    with pytest.raises(CloudSetupError) as error:
        check_sources_shipped([str(binder_msa)], workdir)
    assert f"git add {binder_msa}" in str(error.value)
    subprocess.run(["git", "add", "binder.a3m"], cwd=workdir, check=True)
    check_sources_shipped([str(binder_msa)], workdir)
    with binder_msa.open("a") as file:
        file.truncate(MAX_SHIPPED_FILE_BYTES + 1)
    with pytest.raises(CloudSetupError, match="every shard reading it would fail"):
        check_sources_shipped([str(binder_msa)], workdir)


def test_an_msa_snakemake_would_not_ship_is_refused(checkout):
    """Snakemake drops source files over 10 MB from what it ships to remote jobs with a
    warning only: every shard of the protein would fail. Refused at planning instead."""
    workdir, raw = checkout
    msa = workdir / "p1.a3m"
    with msa.open("a") as file:
        file.truncate(MAX_SHIPPED_FILE_BYTES)
    check_remote_storage(load_config(raw), "gcs", "gs://omtx-results/w", workdir)  # at it
    with msa.open("a") as file:
        file.write("\n")
    with pytest.raises(CloudSetupError) as error:
        check_remote_storage(load_config(raw), "gcs", "gs://omtx-results/w", workdir)
    assert f"{msa} is 10,000,001 bytes: Snakemake ships no source file over 10 MB" in str(
        error.value
    )


def test_an_untracked_sheet_is_fine(checkout):
    # Remote jobs read the validated sheet from the result store, not from the sources.
    workdir, raw = checkout
    subprocess.run(["git", "rm", "-q", "--cached", "ligands.csv"], cwd=workdir, check=True)
    check_remote_storage(load_config(raw), "gcs", "gs://omtx-results/w", workdir)


def test_a_path_outside_any_checkout_is_untracked(tmp_path):
    (tmp_path / "a.csv").write_text("x")
    assert untracked(["a.csv"], tmp_path) == ["a.csv"]
