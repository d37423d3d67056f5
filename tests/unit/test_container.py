"""The container images (containers/boltz, containers/chai1): static checks of their
Dockerfiles (no Docker here), and the job guard both load, which runs the plugin's real
entrypoint script shape under bash."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.images import (
    GUARD,
    GUARD_IN_IMAGE,
    IMAGES,
    REPO,
    build_args,
    dockerfile,
    environment,
    in_build_context,
    instructions,
)

HADOLINT = REPO / ".tools/bin/hadolint"
# Build args that must equal a pyproject.toml pin, and the package they pin.
PINNED_ARGS = {
    "BOLTZ_VERSION": "boltz",
    "TORCH_VERSION": "torch",
    "SNAKEMAKE_VERSION": "snakemake",
    "SNAKEMAKE_STORAGE_PLUGIN_GCS_VERSION": "snakemake-storage-plugin-gcs",
}


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return dict(re.fullmatch(r"([\w.-]+)==(\S+)", d).groups() for d in project["dependencies"])


@pytest.mark.parametrize("image", IMAGES)
def test_image_pins_the_versions_of_pyproject(image):
    pins, args = pyproject_pins(), build_args(image)
    # Every image runs the Batch job's Snakemake, so it has the job's own pins.
    assert {"TORCH_VERSION", "SNAKEMAKE_VERSION", "SNAKEMAKE_STORAGE_PLUGIN_GCS_VERSION"} <= set(
        args
    )
    for arg, package in PINNED_ARGS.items():
        if arg in args:
            assert args[arg] == pins[package], f"{image}: ARG {arg}"


def test_boltz_image_installs_boltz_with_its_gpu_kernels():
    assert '"boltz[cuda]==${BOLTZ_VERSION}"' in dockerfile("boltz").read_text()


def test_chai1_image_installs_the_engine_environment_by_hash():
    """The image's Chai-1 environment is `make chai1`'s: the same requirements file, every
    package by hash, on the CPython its wheels are built for."""
    requirements = (REPO / "engines/chai1/requirements.txt").read_text()
    runs = [rest for kind, rest in instructions("chai1") if kind == "RUN"]
    copied = {
        source: target
        for kind, rest in instructions("chai1")
        if kind == "COPY"
        for *sources, target in [rest.split()]
        for source in sources
    }
    in_image = copied["engines/chai1/requirements.txt"]
    assert any(f"/opt/chai1/bin/pip install --require-hashes -r {in_image}" in run for run in runs)
    packages = re.findall(
        r"^([A-Za-z0-9][\w.-]*)==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", requirements, re.M
    )
    assert len(packages) == len(re.findall(r"^[A-Za-z0-9]", requirements, re.M)) > 100
    assert "chai-lab" in packages
    wheels_for = re.search(r"for CPython (\d+\.\d+)", requirements)[1]
    base = next(rest for kind, rest in instructions("chai1") if kind == "FROM")
    assert re.fullmatch(r"python:(\d+\.\d+)-slim-\w+", base)[1] == wheels_for
    # The runner and where its weights come from: a mounted folder, not the image.
    assert copied["engines/chai1/runner.py"] == "/opt/omtx-hub/engines/chai1/runner.py"
    assert environment("chai1")["CHAI_DOWNLOADS_DIR"] == build_args("chai1")["CHAI_DOWNLOADS_DIR"]


@pytest.mark.parametrize("image", IMAGES)
def test_image_runs_batch_jobs_under_the_job_guard(image):
    """The one guard file, loaded for the job's script, with the job's Snakemake first on
    PATH and the launching checkout's sources importable."""
    assert ("COPY", f"containers/common/job-guard.sh {GUARD_IN_IMAGE}") in instructions(image)
    env = environment(image)
    assert env["BASH_ENV"] == GUARD_IN_IMAGE
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["PYTHONPATH"] == "/tmp/workdir"
    assert ("WORKDIR", "/tmp/workdir") in instructions(image)
    # No CUDA gate: torch's own CUDA libraries need only the host's driver (the Boltz
    # Dockerfile says why), and no USER: the plugin mounts /tmp/workdir as root.
    base = next(rest for kind, rest in instructions(image) if kind == "FROM")
    assert base.startswith("python:") and "NVIDIA_REQUIRE_CUDA" not in env
    assert "USER" not in {kind for kind, _ in instructions(image)}


@pytest.mark.parametrize("image", IMAGES)
def test_every_file_the_image_copies_is_in_the_build_context(image):
    for kind, rest in instructions(image):
        if kind == "COPY":
            for source in rest.split()[:-1]:
                assert (REPO / source).exists(), f"{image}: COPY {source}"
                assert in_build_context(source), f"{image}: .dockerignore leaves out {source}"


def test_environments_and_results_stay_out_of_the_build_context():
    for path in (".venv/bin/python", ".chai1/lib", ".cache/boltz-test", ".git", "results/x"):
        assert not in_build_context(path), path
    assert in_build_context("omtx_hub/predict.py")
    assert not in_build_context("engines/chai1/other.py")


def test_image_tag_is_the_project_version_everywhere():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    assert build["substitutions"]["_TAG"] == version
    # One build file for every image: _IMAGE names the folder and the image.
    assert build["substitutions"]["_IMAGE"] == "boltz"
    assert "--file=containers/${_IMAGE}/Dockerfile" in build["steps"][0]["args"]
    image_name = "${_REGION}-docker.pkg.dev/${PROJECT_ID}/omtx-hub/${_IMAGE}:${_TAG}"
    assert build["images"] == [image_name]
    assert f"--tag={image_name}" in build["steps"][0]["args"]
    assert sorted(p.parent.name for p in (REPO / "containers").glob("*/Dockerfile")) == sorted(
        IMAGES
    )
    profile = yaml.safe_load((REPO / "profiles/googlebatch/config.yaml").read_text())
    assert profile["googlebatch-container"] == (
        "${SNAKEMAKE_GOOGLEBATCH_REGION}-docker.pkg.dev/${SNAKEMAKE_GOOGLEBATCH_PROJECT}"
        f"/omtx-hub/boltz:{version}"
    )
    # The Snakefile's container (--sdm apptainer) is the same image: $NAME there, since
    # Snakemake would read {NAME} as a wildcard.
    snakefile = (REPO / "workflow/Snakefile").read_text()
    container = re.search(
        r'^container:\s*os\.path\.expandvars\(\s*"docker://(\S+)"', snakefile, re.M
    )
    assert re.sub(r"\$(\w+)", r"${\1}", container[1]) == profile["googlebatch-container"]


@pytest.mark.skipif(not HADOLINT.exists(), reason="make setup installs hadolint into .tools")
@pytest.mark.parametrize("image", IMAGES)
def test_hadolint(image):
    result = subprocess.run([str(HADOLINT), str(dockerfile(image))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def plugin_entrypoint(command: str) -> str:
    """The script snakemake-executor-plugin-googlebatch writes for COS containers."""
    from snakemake_executor_plugin_googlebatch.command import COSWriter

    writer = COSWriter.__new__(COSWriter)
    writer.command = command
    setup = writer.setup()
    return setup.split("cat <<EOF > /tmp/workdir/entrypoint.sh\n", 1)[1].split("\nEOF\n")[0]


def run_entrypoint(workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the job's entrypoint.sh with bash in `workdir`, with only the variables of `env`;
    text stdout and stderr."""
    return subprocess.run(
        ["bash", str(workdir / "entrypoint.sh")],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(("snakemake_status", "guarded"), [(0, True), (3, True), (3, False)])
def test_job_guard_gives_the_job_snakemakes_exit_status(tmp_path, snakemake_status, guarded):
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    command = (
        "pip install --target '.snakemake/pip-deployments' snakemake-storage-plugin-gcs && "
        f"python -c 'import sys; sys.exit({snakemake_status})'"
    )
    (workdir / "entrypoint.sh").write_text(plugin_entrypoint(command))
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        # Whatever happens, nothing is installed into this environment.
        "PIP_NO_INDEX": "1",
    }
    if guarded:
        env["BASH_ENV"] = str(GUARD)
    result = run_entrypoint(workdir, env)
    if guarded:
        assert result.returncode == snakemake_status, result.stderr
        assert "preinstalled in the image; not installing" in result.stderr
        assert not (workdir / ".snakemake/pip-deployments").exists()
    else:
        # Plugin 0.5.1 as is: a failed job's status is that of a trailing pip install.
        assert result.returncode != snakemake_status


def test_guard_leaves_other_scripts_alone(tmp_path):
    script = tmp_path / "other.sh"
    script.write_text("false\necho still running\n")
    env = {**os.environ, "BASH_ENV": str(GUARD)}
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert result.stdout == "still running\n"


# The plugin's chain as it writes it for a shard (tests/cloud/test_googlebatch.py asserts
# the real one has these steps), each step a fake command on PATH that fails on request.
PLUGIN_CHAIN = (
    "pip install --target '.snakemake/pip-deployments' snakemake-storage-plugin-gcs && "
    "python -m snakemake --deploy-sources gs://bucket/omtx-hub/sources.tar.xz 0123abcd && "
    "python -m snakemake --target-jobs 'boltz_predict_shard:shard=00000' --mode 'remote'"
)
FAKE_COMMAND = """#!/bin/bash
echo "$(basename "$0") $*" >> "$CALLS"
[[ "$(basename "$0") $*" == *"$FAIL_ON"* ]] && exit 7
exit 0
"""


@pytest.mark.parametrize(
    "fail_on",
    [
        # The image lacks the storage plugin (the import check fails) and the install fails.
        "snakemake-storage-plugin-gcs",
        "--deploy-sources",
        "--mode remote",
    ],
    ids=["pip-install", "deploy-sources", "snakemake-job"],
)
def test_job_guard_fails_the_job_when_any_step_of_the_chain_fails(tmp_path, fail_on):
    workdir, bin_dir = tmp_path / "workdir", tmp_path / "bin"
    workdir.mkdir()
    bin_dir.mkdir()
    for name in ("pip", "python", "python3"):
        (bin_dir / name).write_text(FAKE_COMMAND)
        (bin_dir / name).chmod(0o755)
    (workdir / "entrypoint.sh").write_text(plugin_entrypoint(PLUGIN_CHAIN))
    calls = tmp_path / "calls"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "BASH_ENV": str(GUARD),
        "CALLS": str(calls),
        "FAIL_ON": fail_on,
    }
    result = run_entrypoint(workdir, env)
    assert result.returncode == 7, result.stderr
    assert "failed with exit status 7; the job fails" in result.stderr
    # Nothing after the failed step ran.
    assert fail_on in calls.read_text().splitlines()[-1]

    # Without the guard the same failure is reported as success (plugin 0.5.1 as is).
    del env["BASH_ENV"]
    unguarded = run_entrypoint(workdir, env)
    assert unguarded.returncode == 0
