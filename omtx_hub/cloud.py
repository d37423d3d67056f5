"""Planning-time checks of a cloud run, so that a setup mistake stops the run before any VM
starts instead of failing on the VMs (or costing money there).

- `check_remote_storage`: at parse time, whenever a default storage provider is set (the
  jobs then share no filesystem with this machine); `check_sources_shipped` then checks the
  binder MSA files the plan read from the sheet.
- `check_batch_jobs`: when a Google Batch run starts (Snakemake's `onstart`), on the
  settings and the resources of the jobs about to be submitted, as
  snakemake-executor-plugin-googlebatch 0.5.1 reads them.
- `check_bucket_access`: at the same moment, that the buckets answer with every permission
  the jobs' storage calls need (snakemake-storage-plugin-gcs 1.1.4 and the result store).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from omtx_hub.config import ConfigError, ScreenConfig

# https://cloud.google.com/storage/docs/buckets#naming (names without dots).
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")
# https://cloud.google.com/resource-manager/docs/creating-managing-projects
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")

# Which machine series can carry each GPU type
# (https://cloud.google.com/compute/docs/gpus): L4 comes only attached to G2 machines,
# A100 to A2, H100 to A3; the older types attach to N1.
GPU_MACHINE_SERIES = {
    "nvidia-l4": ("g2-",),
    "nvidia-tesla-a100": ("a2-highgpu-", "a2-megagpu-"),
    "nvidia-a100-80gb": ("a2-ultragpu-",),
    "nvidia-h100-80gb": ("a3-highgpu-",),
    "nvidia-h100-mega-80gb": ("a3-megagpu-",),
    "nvidia-tesla-t4": ("n1-",),
    "nvidia-tesla-v100": ("n1-",),
    "nvidia-tesla-p100": ("n1-",),
    "nvidia-tesla-p4": ("n1-",),
}
# The plugin's default for an integer `nvidia_gpu`.
PLUGIN_DEFAULT_GPU = "nvidia-tesla-t4"
# The image's boot disk needs room for the ~15 GB image, unpacked.
MIN_BOOT_DISK_GB = 50

# The Cloud Storage calls of a run, and the role that grants each permission on the bucket
# (https://cloud.google.com/storage/docs/access-control/iam-roles). The GCS storage plugin
# calls `bucket.exists()` before listing, checking and storing outputs
# (snakemake_storage_plugin_gcs/__init__.py: inventory, exists, ensure_bucket_exists), which
# is storage.buckets.get: roles/storage.objectAdmin does not grant it.
BUCKET_PERMISSIONS = {
    "storage.buckets.get": "roles/storage.legacyBucketReader",
    "storage.objects.list": "roles/storage.objectAdmin",
    "storage.objects.get": "roles/storage.objectAdmin",
    "storage.objects.create": "roles/storage.objectAdmin",
    # Replacing an object (a rerun's outputs, the store's records) is a delete and a create.
    "storage.objects.delete": "roles/storage.objectAdmin",
}


# Snakemake leaves larger files out of the sources it ships (snakemake/workflow.py,
# `write_source_archive`, 9.27.1), with only a warning.
MAX_SHIPPED_FILE_BYTES = 10_000_000


class CloudSetupError(ConfigError):
    """A cloud run is set up in a way that cannot work; nothing was started."""


def _unexpanded(value: str) -> str | None:
    match = re.search(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", value)
    return match.group(1) if match else None


def bucket_of(url: str, what: str) -> str:
    """The bucket of a gs:// URL; CloudSetupError naming `what` when it is not one."""
    variable = _unexpanded(url)
    if variable:
        raise CloudSetupError(
            f"{what} '{url}' still contains ${variable}: the environment variable is not set "
            f"(export {variable}=...; docs/google-batch.md)"
        )
    if not url.startswith("gs://"):
        raise CloudSetupError(f"{what} '{url}' must be a Cloud Storage URL: gs://BUCKET/PREFIX")
    bucket = url.removeprefix("gs://").split("/", 1)[0]
    if not BUCKET_NAME.match(bucket):
        raise CloudSetupError(
            f"{what} '{url}': '{bucket}' is not a valid bucket name (3-63 lower-case letters, "
            "digits, '-' or '_')"
        )
    return bucket


def untracked(paths: Iterable[str], workdir: Path) -> list[str]:
    """Which of `paths` git does not track in `workdir` (all of them outside a checkout)."""
    paths = list(paths)
    listed = subprocess.run(
        ["git", "ls-files", "--", *paths], cwd=workdir, capture_output=True, text=True
    ).stdout.splitlines()
    tracked = {(workdir / name).resolve() for name in listed}
    return [path for path in paths if (workdir / path).resolve() not in tracked]


def check_remote_storage(
    config: ScreenConfig, provider: str, prefix: str | None, workdir: Path
) -> None:
    """Jobs run elsewhere and see only Cloud Storage and the git-tracked workflow sources."""
    if provider == "gcs":
        bucket_of(prefix or "", "--default-storage-prefix")
    try:
        bucket_of(config.store, "config key 'store'")
    except CloudSetupError as error:
        raise CloudSetupError(
            f"{error}. With remote jobs the result store must be in Cloud Storage, e.g. "
            "store: gs://BUCKET/omtx-hub/store (a local store would stay on each VM)"
        ) from None
    # The ligand sheet is not shipped: the jobs read the validated sheet from the result
    # store. Its binders' MSA files are checked once the plan has read the sheet.
    check_sources_shipped(
        [path for p in config.proteins for path in p.receptor.local_files()], workdir
    )


def check_sources_shipped(local_inputs: Iterable[str], workdir: Path) -> None:
    """Snakemake ships the workflow to the VMs as an archive of the git-tracked files
    (snakemake/dag.py, `get_sources`): every user file the jobs read (receptor MSAs and
    templates, binder MSAs) must be tracked there and under Snakemake's size limit."""
    local_inputs = list(local_inputs)
    missing = untracked(local_inputs, workdir)
    if missing:
        raise CloudSetupError(
            f"{', '.join(missing)} not tracked by git in {workdir}: remote jobs receive only "
            "git-tracked files (plus the config files), so they could not read it. Run "
            f"`git add {' '.join(missing)}` (a commit is not needed) and start again"
        )
    too_big = {
        path: size
        for path in local_inputs
        if (size := (workdir / path).stat().st_size) > MAX_SHIPPED_FILE_BYTES
    }
    if too_big:
        raise CloudSetupError(
            "; ".join(f"{path} is {size:,} bytes" for path, size in too_big.items())
            + ": Snakemake ships no source file over 10 MB to remote jobs (it only warns), so "
            "every shard reading it would fail without it. Make it smaller (an MSA: "
            "fewer sequences, e.g. `hhfilter -diff 5000` or the first few thousand; a "
            "template: only the chains it is for) or, for a receptor, use `msa: server`"
        )


def check_config_files_shipped(configfiles: Iterable[str | Path], workdir: Path) -> None:
    """Remote jobs read the same config files, from the shipped sources: Snakemake ships
    only files below the directory it runs in and under 10 MB, and passes the others'
    paths anyway, so every job would fail on a missing config file."""
    for configfile in configfiles:
        path = Path(configfile).resolve()
        if not path.is_relative_to(workdir.resolve()):
            raise CloudSetupError(
                f"config file '{configfile}' is outside {workdir}, the directory snakemake "
                "runs in; Snakemake does not ship it to the remote jobs. Copy it below that "
                f"directory (e.g. cp {configfile} config/) and pass that copy to --configfile"
            )
        if path.stat().st_size > MAX_SHIPPED_FILE_BYTES:
            raise CloudSetupError(
                f"config file '{configfile}' is over 10 MB; Snakemake does not ship it to "
                "the remote jobs. Keep large data in files the config names"
            )


def _gpu_type(value) -> str | None:
    if value is None:
        return None
    try:
        int(value)
        return PLUGIN_DEFAULT_GPU
    except ValueError:
        return str(value)


def check_batch_jobs(settings, jobs: Iterable[tuple[str, Mapping]]) -> None:
    """`settings`: the googlebatch executor settings; `jobs`: (rule, resources) of each job
    about to be submitted. Resources override settings per rule, as in the plugin."""
    if not PROJECT_ID.match(settings.project or ""):
        raise CloudSetupError(
            f"Google Batch project '{settings.project}' is not a project id; export "
            "SNAKEMAKE_GOOGLEBATCH_PROJECT=<your project id>"
        )
    if not REGION.match(settings.region or ""):
        raise CloudSetupError(
            f"Google Batch region '{settings.region}' is not a region (e.g. us-central1); "
            "export SNAKEMAKE_GOOGLEBATCH_REGION=<region with L4 quota>"
        )
    problems = []
    for rule, resources in jobs:

        def param(name: str, resources: Mapping = resources):
            # The plugin's own lookup (executor.py get_param): resource, else setting.
            return resources.get(f"googlebatch_{name}") or getattr(settings, name, None)

        family = param("image_family") or ""
        container = param("container") or ""
        if "batch-cos" not in family:
            problems.append(
                f"{rule}: image family '{family}' is not Container-Optimized OS (batch-cos-*); "
                "the plugin would install Snakemake from GitHub on each VM instead of using "
                "the project's container"
            )
        elif not container or _unexpanded(container):
            problems.append(
                f"{rule}: no container image ('{container}'); set --googlebatch-container to "
                "the image built by cloudbuild.yaml"
            )
        # The plugin (executor.py get_allocation_policy/get_boot_disk) replaces the boot
        # disk it built from the image family with one holding only the boot disk settings
        # given, so a size or type without an image boots Batch's default image while the
        # job still takes the Container-Optimized OS path.
        boot_image = param("boot_disk_image") or ""
        if "batch-cos" in family and "batch-cos" not in boot_image:
            problems.append(
                f"{rule}: boot disk image '{boot_image}' is not the Container-Optimized OS "
                "image; with a boot disk size or type the plugin boots only "
                "googlebatch-boot-disk-image, so set it to projects/batch-custom-image/global/"
                f"images/family/{family} (profiles/googlebatch)"
            )
        boot_disk = param("boot_disk_gb")
        if boot_disk is None or int(boot_disk) < MIN_BOOT_DISK_GB:
            problems.append(
                f"{rule}: boot disk {boot_disk} GB; the Boltz image needs at least "
                f"{MIN_BOOT_DISK_GB} GB (googlebatch_boot_disk_gb)"
            )
        gpu = _gpu_type(resources.get("nvidia_gpu"))
        machine = param("machine_type") or ""
        if gpu is not None:
            series = GPU_MACHINE_SERIES.get(gpu)
            if series is None:
                problems.append(f"{rule}: unknown GPU type '{gpu}' (nvidia_gpu)")
            elif not machine.startswith(series):
                problems.append(
                    f"{rule}: machine type '{machine}' cannot carry GPU '{gpu}'; it needs a "
                    f"{' or '.join(s + '*' for s in series)} machine type"
                )
    if problems:
        raise CloudSetupError(
            "Google Batch setup problems (nothing was submitted):\n  - "
            + "\n  - ".join(sorted(set(problems)))
        )


def check_bucket_access(urls: Iterable[str], client=None, user_project: str | None = None):
    """Every bucket of `urls` exists and grants the caller BUCKET_PERMISSIONS (one
    testIamPermissions request per bucket, billed to `user_project` as the GCS plugin's calls
    are). `client`: a google.cloud.storage.Client (default: Application Default Credentials).
    """
    from google.api_core import exceptions
    from google.cloud import storage

    client = client or storage.Client(project=user_project)
    problems = []
    for bucket_name in sorted({bucket_of(url, "bucket") for url in urls}):
        bucket = client.bucket(bucket_name, user_project=user_project)
        try:
            granted = set(bucket.test_iam_permissions(list(BUCKET_PERMISSIONS)))
        except exceptions.NotFound:
            problems.append(
                f"bucket gs://{bucket_name} does not exist; create it "
                "(docs/google-batch.md, step 1b)"
            )
            continue
        except exceptions.Forbidden as error:
            problems.append(
                f"gs://{bucket_name}: {error.message}. Calls are billed to project "
                f"'{user_project}' (SNAKEMAKE_STORAGE_GCS_PROJECT), which needs "
                "serviceusage.services.use: grant roles/serviceusage.serviceUsageConsumer"
            )
            continue
        for permission, role in BUCKET_PERMISSIONS.items():
            if permission not in granted:
                problems.append(
                    f"gs://{bucket_name}: missing permission {permission}; grant {role} on "
                    "the bucket to you and to the jobs' service account"
                )
    if problems:
        raise CloudSetupError(
            "Cloud Storage access problems (nothing was submitted; docs/google-batch.md, "
            "step 1b):\n  - " + "\n  - ".join(problems)
        )
