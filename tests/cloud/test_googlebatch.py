"""Contract tests of the Google Batch path with the real plugin code.

Snakemake runs in-process with `--profile profiles/googlebatch`; only the two Google API
clients are replaced: `google.cloud.batch_v1.BatchServiceClient` (it records every
`CreateJobRequest` snakemake-executor-plugin-googlebatch builds and can run the job here the
way a Container-Optimized OS VM would) and `google.cloud.logging.Client`. Storage goes
through the real snakemake-storage-plugin-gcs and google-cloud-storage to a local GCS
emulator.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from google.api_core.exceptions import DeadlineExceeded
from google.cloud import batch_v1, storage
from google.cloud import logging as cloud_logging
from snakemake.cli import main as snakemake_main

from omtx_hub import vm_preflight
from omtx_hub.cloud import BUCKET_PERMISSIONS
from omtx_hub.credentials import SECRET_VARIABLES
from omtx_hub.store_layout import entry_path
from omtx_hub.testing.msa_server import fake_msa_server
from omtx_hub.vm_preflight import COMPUTE, REGISTRY, STORAGE
from tests.gcs_emulator import emulated_gcs
from tests.google_apis import FakeGoogleApis, policy
from tests.images import GUARD, GUARD_IN_IMAGE, environment
from tests.leaks import contents, files_holding, files_under
from tests.notify_server import webhook_receiver
from tests.screens import SHORT_PROTEIN, write_screen

REPO = Path(__file__).resolve().parents[2]
PROJECT, REGION = "omtx-test-project", "us-central1"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/omtx-hub/boltz:0.1.0"
# Structure only: the affinity stage would double Boltz's CPU time and adds nothing here.
FAST_MODEL = {
    "recycling_steps": 0,
    "sampling_steps": 2,
    "diffusion_samples": 1,
    "affinity": False,
    "seed": 0,
}
CPU_RUNTIME = {"accelerator": "cpu", "precision": "32", "num_workers": 0, "use_kernels": False}
# Where the image's paths are in this test: the host's /tmp/workdir (bind-mounted into the
# container) is a directory per job, and the image's files are the repository's.
IMAGE_FILES = {GUARD_IN_IMAGE: GUARD}


def image_environment(workdir: Path) -> dict[str, str]:
    """The ENV of containers/boltz/Dockerfile, with its paths mapped to this machine."""
    env = environment("boltz")
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"  # the image's /opt/venv/bin
    env = {k: str(IMAGE_FILES.get(v, v)) for k, v in env.items()}
    return {k: v.replace("/tmp/workdir", str(workdir)) for k, v in env.items()}


class FakeBatchService:
    """Records each CreateJobRequest. With `vm_root`, runs each job as Batch would on a COS
    VM: the setup and Snakefile scripts on the host, then the container runnable with the
    image's environment; a job's first attempt can be preempted (fails without running).
    With `status_timeouts`, that many status polls fail with DeadlineExceeded first, as a
    slow Batch API does."""

    def __init__(
        self,
        vm_root: Path | None = None,
        home: Path | None = None,
        preempt=(),
        status_timeouts: int = 0,
    ):
        self.requests: list[batch_v1.CreateJobRequest] = []
        self.vm_root, self.home, self.preempt = vm_root, home, set(preempt)
        self.states: dict[str, batch_v1.JobStatus.State] = {}
        self.logs: dict[str, str] = {}
        self.status_timeouts = status_timeouts

    def create_job(self, request):
        self.requests.append(batch_v1.CreateJobRequest(request))
        name = f"{request.parent}/jobs/{request.job_id}"
        uid = uuid.uuid4().hex
        rule = request.job.labels["snakemake-job"]
        if self.vm_root is None:
            self.states[name] = batch_v1.JobStatus.State.FAILED
        elif rule in self.preempt:
            self.preempt.discard(rule)
            self.states[name] = batch_v1.JobStatus.State.FAILED
            self.logs[uid] = "preempted (simulated)"
        else:
            returncode, self.logs[uid] = self._run(request, self.vm_root / request.job_id)
            state = batch_v1.JobStatus.State
            self.states[name] = state.SUCCEEDED if returncode == 0 else state.FAILED
        return batch_v1.Job(name=name, uid=uid)

    def get_job(self, request):
        if self.status_timeouts:
            self.status_timeouts -= 1
            raise DeadlineExceeded("GetJob: Deadline Exceeded")
        return batch_v1.Job(name=request.name, status={"state": self.states[request.name]})

    def _run(self, request, vm: Path) -> tuple[int, str]:
        task = request.job.task_groups[0].task_spec
        setup, write_snakefile, _barrier, container_step = task.runnables
        workdir = vm / "workdir"  # this VM's /tmp/workdir

        def on_host(text: str) -> str:
            return text.replace("/tmp/workdir", str(workdir))

        output = ""
        for script in (setup.script.text, write_snakefile.script.text):
            step = subprocess.run(["bash", "-c", on_host(script)], capture_output=True, text=True)
            output += step.stdout + step.stderr
        container = container_step.container
        env = {
            "HOME": str(self.home),
            "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
            "PYTHONWARNINGS": "ignore::FutureWarning",
            # Nothing may be installed at job start; without an index a pip install fails.
            "PIP_NO_INDEX": "1",
            **image_environment(workdir),
            **dict(container_step.environment.variables),
        }
        job = subprocess.run(
            [container.entrypoint, *map(on_host, container.commands)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
        )
        return job.returncode, output + job.stdout + job.stderr


class FakeLoggingClient:
    """google.cloud.logging.Client: serves the fake VM's output as the job's log entries."""

    batch: FakeBatchService

    def __init__(self, project=None):
        pass

    def logger(self, name):
        return self

    def list_entries(self, filter_, page_size):
        uid = filter_.removeprefix("labels.job_uid=")
        return [type("Entry", (), {"payload": self.batch.logs.get(uid, "")})()]


@pytest.fixture(scope="module")
def gcs_client():
    with emulated_gcs(PROJECT) as client:
        yield client


@pytest.fixture
def gcs(gcs_client):
    """A new bucket in the emulator for each test."""
    return gcs_client.create_bucket(f"omtx-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def checkout(tmp_path, monkeypatch, gcs, boltz_test_cache):
    """A git checkout of the workflow with a 3-ligand screen, set up as docs/google-batch.md
    says: environment variables, store in the bucket, sheet tracked by git."""
    root = tmp_path / "checkout"
    for part in ("workflow", "omtx_hub", "omtx_report", "config", "profiles"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    raw = write_screen(
        root,
        rows=[("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("ethanol", "CCO")],
        shard_size=2,
        model=FAST_MODEL,
        store=f"gs://{gcs.name}/store",
    )
    raw["ligands"] = "ligands.csv"
    (root / "screen.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    # The image's ~/.boltz is its baked cache; here the generated test cache stands in.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".boltz").symlink_to(boltz_test_cache)
    monkeypatch.chdir(root)
    for name, value in {
        "SNAKEMAKE_GOOGLEBATCH_PROJECT": PROJECT,
        "SNAKEMAKE_GOOGLEBATCH_REGION": REGION,
        "SNAKEMAKE_STORAGE_GCS_PROJECT": PROJECT,
        "OMTX_BUCKET": gcs.name,
        "HOME": str(home),
    }.items():
        monkeypatch.setenv(name, value)
    return root


def run_snakemake(
    monkeypatch,
    batch: FakeBatchService,
    *arguments: str,
    configfile: str = "screen.yaml",
    runtime: dict = CPU_RUNTIME,
    google_apis: FakeGoogleApis | None = None,
) -> int:
    """snakemake --profile profiles/googlebatch ..., in this process; its exit status.
    (Tests read its output with capfd, not capsys: Snakemake keeps the sys.stdout it first
    sees, and its local jobs' subprocesses need a real file descriptor.) `google_apis`: what
    the pre-flight of the VMs' side reads (default: a project set up as documented)."""
    monkeypatch.setattr(batch_v1, "BatchServiceClient", lambda *a, **k: batch)
    monkeypatch.setattr(vm_preflight, "google_apis", lambda: google_apis or FakeGoogleApis())
    FakeLoggingClient.batch = batch
    monkeypatch.setattr(cloud_logging, "Client", FakeLoggingClient)
    config = f"runtime={json.dumps(runtime)}"
    try:
        snakemake_main(
            [
                "--profile",
                "profiles/googlebatch",
                "--configfile",
                configfile,
                "--config",
                config,
                "--seconds-between-status-checks",
                "1",
                "--latency-wait",
                "5",
                *arguments,
            ]
        )
    except SystemExit as done:
        return done.code
    return 0


RESULTS = ("results/s1/summary.json", "results/s1/batch_results.csv")


def command_of(request: batch_v1.CreateJobRequest) -> str:
    main = request.job.task_groups[0].task_spec.runnables[-1]
    setup = request.job.task_groups[0].task_spec.runnables[0].script.text
    assert main.container.commands == ["/tmp/workdir/entrypoint.sh"]
    return setup


@pytest.mark.boltz  # the fake VMs run the real boltz predict
def test_screen_runs_on_batch_with_results_in_cloud_storage(checkout, monkeypatch, gcs, tmp_path):
    # The first status poll times out: plugin 0.5.1 alone would end the run there
    # (omtx_hub/batch_status.py); the retried poll gets the answer.
    batch = FakeBatchService(
        tmp_path / "vms",
        home=Path(os.environ["HOME"]),
        preempt={"boltz-predict-shard"},
        status_timeouts=1,
    )
    # The screen's results (the dashboard, also a local rule, is left out to save time).
    status = run_snakemake(monkeypatch, batch, *RESULTS)
    assert status == 0, "\n".join(batch.logs.values())[-5000:]
    assert batch.status_timeouts == 0

    prefix = "omtx-hub/results/s1"
    summary = json.loads(gcs.blob(f"{prefix}/summary.json").download_as_bytes())
    assert summary["counts"]["completed"] == 2 and summary["counts"]["computed"] == 2
    assert summary["gpu"]["computed_targets"] == 2
    assert summary["gpu"]["seconds_per_computed_target"] > 0
    assert summary["gpu"]["cost_usd_with_startup"] > summary["gpu"]["cost_usd_jobs"] > 0
    # The shard's manifest came from its second attempt (the first VM was preempted).
    assert (summary["gpu"]["retried_shards"], summary["gpu"]["earlier_attempts"]) == (1, 1)
    table = pd.read_csv(gcs.blob(f"{prefix}/batch_results.csv").open("rb"))
    assert sorted(table["ligand_name"]) == ["aspirin", "ethanol"]
    # What the shard's VM saw (a screen of one shard has no other shard to wait for a
    # canary report; the report is made from this).
    manifest = json.loads(gcs.blob(f"{prefix}/shards/P1/00000.json").download_as_bytes())
    assert manifest["machine"]["gpu"] == "no CUDA device"  # this machine's torch
    assert manifest["machine"]["torch"] and manifest["machine"]["vm_startup_s"] >= 0
    assert not list(gcs.client.list_blobs(gcs, prefix=f"{prefix}/canary/"))
    records = [
        b
        for b in gcs.client.list_blobs(gcs, prefix="store/targets/")
        if b.name.endswith("record.json")
    ]
    assert len(records) == 2

    # One shard; its first attempt was preempted and Snakemake resubmitted it. The
    # aggregate is a local rule: no VM.
    rules = [r.job.labels["snakemake-job"] for r in batch.requests]
    assert rules == ["boltz-predict-shard"] * 2
    attempts = [re.search(r"--attempt (\d+)", command_of(r)).group(1) for r in batch.requests]
    assert attempts == ["1", "2"]

    for request in batch.requests:
        assert request.parent == f"projects/{PROJECT}/locations/{REGION}"
        job = request.job
        instances = job.allocation_policy.instances[0]
        policy = instances.policy
        assert policy.machine_type == "g2-standard-8"
        assert [(a.type_, a.count) for a in policy.accelerators] == [("nvidia-l4", 1)]
        assert instances.install_gpu_drivers is True
        # The plugin asks for PREEMPTIBLE (Spot-priced, 24 h limit), not SPOT (plugin 0.5.1).
        assert policy.provisioning_model == batch_v1.AllocationPolicy.ProvisioningModel.PREEMPTIBLE
        # The COS image really boots (the plugin's own image choice is dropped as soon as
        # a boot disk size is set), on the profile's disk.
        assert policy.boot_disk.image == (
            "projects/batch-custom-image/global/images/family/batch-cos-stable-official"
        )
        assert (policy.boot_disk.size_gb, policy.boot_disk.type_) == (100, "pd-balanced")
        task = job.task_groups[0].task_spec
        assert (task.compute_resource.cpu_milli, task.compute_resource.memory_mib) == (7000, 28000)
        assert task.max_retry_count == 0  # Snakemake's resubmission is the only retry
        assert task.max_run_duration.total_seconds() == 14400
        container = task.runnables[-1].container
        assert container.image_uri == IMAGE
        assert "--workdir /tmp/workdir" in container.options
        assert list(container.volumes) == ["/tmp/workdir:/tmp/workdir"]
        assert dict(job.labels) == {"snakemake-job": "boltz-predict-shard", "app": "omtx-hub"}
        command = command_of(request)
        assert f"--deploy-sources gs://{gcs.name}/omtx-hub/" in command
        assert "--target-jobs 'boltz_predict_shard:screen=s1,protein=P1,shard=00000'" in command
        assert "--default-storage-provider 'gcs'" in command and "--mode 'remote'" in command
        # The job guard (containers/common/job-guard.sh) ends the job on the failure of any
        # pip/python command: the plugin's chain has no other kind.
        chain = command.split("cat <<EOF > /tmp/workdir/entrypoint.sh\n", 1)[1].split("\n")[0]
        steps = [step.strip().split()[0] for step in chain.split("&&")]
        assert steps == ["pip", "python", "python"]
    # Nothing was installed at job start (the image has it all): the guard said so.
    assert all(
        "preinstalled in the image; not installing" in log
        for log in batch.logs.values()
        if log != "preempted (simulated)"
    )

    # A second screen of the same compounds: the main process assembles its shard from the
    # store (a local job) and starts no VM. Then a rerun of the first screen does nothing.
    raw = yaml.safe_load(Path("screen.yaml").read_text())
    raw["screen"]["name"] = "s2"
    Path("screen-s2.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    second_results = [path.replace("/s1/", "/s2/") for path in RESULTS]
    status = run_snakemake(monkeypatch, batch, *second_results, configfile="screen-s2.yaml")
    assert status == 0
    assert len(batch.requests) == 2
    second = json.loads(gcs.blob("omtx-hub/results/s2/summary.json").download_as_bytes())
    counts = second["counts"]
    assert (counts["completed"], counts["computed"], counts["reused_from_store"]) == (2, 0, 2)
    structures = gcs.client.list_blobs(gcs, prefix="omtx-hub/results/s2/structures/")
    assert sorted(Path(b.name).name for b in structures if b.name.endswith(".cif")) == [
        "s2_P1_1_aspirin.cif",
        "s2_P1_2_ethanol.cif",
    ]

    summary_blob = gcs.get_blob(f"{prefix}/summary.json")
    assert run_snakemake(monkeypatch, batch, *RESULTS) == 0
    assert len(batch.requests) == 2
    assert gcs.get_blob(f"{prefix}/summary.json").generation == summary_blob.generation


@pytest.mark.boltz  # the fake VM runs the real boltz predict
def test_a_server_msa_screen_runs_on_batch(checkout, monkeypatch, gcs, tmp_path):
    # fetch_msa, a checkpoint, runs in the planning process; the shard on its VM re-parses
    # the workflow and must key its targets with the fetched MSA's content.
    raw = yaml.safe_load(Path("screen.yaml").read_text())
    raw["proteins"][0]["msa"] = "server"
    Path("screen-msa.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    batch = FakeBatchService(tmp_path / "vms", home=Path(os.environ["HOME"]))
    with fake_msa_server() as server:
        runtime = {**CPU_RUNTIME, "msa_server_url": server.url}

        def run() -> int:
            return run_snakemake(
                monkeypatch, batch, *RESULTS, configfile="screen-msa.yaml", runtime=runtime
            )

        assert run() == 0, "\n".join(batch.logs.values())[-5000:]
        assert len(server.submissions) == 1
        assert [r.job.labels["snakemake-job"] for r in batch.requests] == ["boltz-predict-shard"]
        prefix = "omtx-hub/results/s1"
        msa = gcs.blob(f"{prefix}/msa/P1/A.csv").download_as_bytes()
        manifest = json.loads(gcs.blob(f"{prefix}/shards/P1/00000.json").download_as_bytes())
        assert manifest["computed"] == 2
        assert {r["msa"] for r in manifest["records"]} == {f"csv:{hashlib.sha256(msa).hexdigest()}"}
        query = json.loads(gcs.blob(f"{prefix}/msa/P1.json").download_as_bytes())["query_id"]
        assert gcs.blob(f"store/msa/{query}/0.csv").download_as_bytes() == msa
        summary = gcs.get_blob(f"{prefix}/summary.json")
        # A rerun asks no server, starts no VM and rewrites nothing.
        assert run() == 0
        assert len(server.submissions) == 1 and len(batch.requests) == 1
        assert gcs.get_blob(f"{prefix}/summary.json").generation == summary.generation


def write_binder_screen(*, tracked: bool) -> None:
    """screen-binders.yaml: the checkout's screen with one peptide binder whose `msa` is
    binder.a3m, tracked by git or not, against the protein with its MSA file p1.a3m."""
    Path("p1.a3m").write_text(f">query\n{SHORT_PROTEIN}\n")
    Path("binder.a3m").write_text(">query\nGSWAEK\n>homologue\nGSWADK\n")
    Path("binders.csv").write_text(
        "name,sequence,chain_type,msa\naligned,GSWAEK,peptide,binder.a3m\n"
    )
    raw = yaml.safe_load(Path("screen.yaml").read_text()) | {"ligands": "binders.csv"}
    raw["proteins"][0]["msa"] = "p1.a3m"
    Path("screen-binders.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    subprocess.run(["git", "add", "p1.a3m", *(["binder.a3m"] if tracked else [])], check=True)


@pytest.mark.boltz  # the fake VM runs the real boltz predict
def test_a_binder_msa_file_travels_to_the_vm_like_a_receptor_msa(
    checkout, monkeypatch, gcs, tmp_path
):
    """A binder screen's `msa` file and its receptor's (tracked by git) are shipped with the
    sources and read by the shard job on its VM: no shard runs on the planning machine for
    them (as a `local()` input once made it). (An untracked binder MSA is refused at
    planning: test_bad_setup_stops_before_any_vm[untracked-binder-msa].)"""
    write_binder_screen(tracked=True)
    batch = FakeBatchService(tmp_path / "vms", home=Path(os.environ["HOME"]))
    status = run_snakemake(monkeypatch, batch, *RESULTS, configfile="screen-binders.yaml")
    assert status == 0, "\n".join(batch.logs.values())[-5000:]
    assert [r.job.labels["snakemake-job"] for r in batch.requests] == ["boltz-predict-shard"]
    prefix = "omtx-hub/results/s1"
    manifest = json.loads(gcs.blob(f"{prefix}/shards/P1/00000.json").download_as_bytes())
    # The VM checked the file against the identity the key was made with, then Boltz read it.
    [record] = manifest["records"]
    assert record["status"] == "completed"
    stored = gcs.blob(f"store/{entry_path(record['key'])}/input.yaml")
    binder = yaml.safe_load(stored.download_as_bytes())["sequences"][1]["protein"]
    assert binder["msa"].startswith(str(tmp_path / "vms"))
    assert binder["msa"].endswith("/workdir/binder.a3m")
    assert record["msa"] == f"a3m:{hashlib.sha256(Path('p1.a3m').read_bytes()).hexdigest()}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"env": {"OMTX_BUCKET": None}}, "still contains $OMTX_BUCKET"),
        ({"args": ["--default-storage-prefix", "gs://Bad_Bucket/x"]}, "not a valid bucket name"),
        ({"config": {"store": "results/store"}}, "the result store must be in Cloud Storage"),
        # (--set-resources on the command line replaces the profile's whole list.)
        (
            {
                "args": [
                    "--set-resources",
                    "boltz_predict_shard:nvidia_gpu='nvidia-l4'",
                    "boltz_predict_shard:googlebatch_machine_type='n1-standard-8'",
                ]
            },
            "machine type 'n1-standard-8' cannot carry GPU 'nvidia-l4'; "
            "it needs a g2-* machine type",
        ),
        ({"config": {"cost": {"budget_usd": 0.01}}}, "exceeds cost.budget_usd $0.01"),
        # A binder's MSA file that git does not track: Snakemake would not ship it.
        ({"binder_screen": True}, "binder.a3m not tracked by git"),
        # The plugin writes the variables passed to jobs in clear into each job request.
        (
            {"env": {"OMTX_MSA_API_KEY": "x"}, "args": ["--envvars", "OMTX_MSA_API_KEY"]},
            "OMTX_MSA_API_KEY would be written in clear into every remote job's request",
        ),
        # A boot disk size without the image: the plugin would boot Batch's default image.
        (
            {"profile_drop": "googlebatch-boot-disk-image"},
            "boot disk image '' is not the Container-Optimized OS image",
        ),
        # The bucket answers, but without bucket metadata read (roles/storage.objectAdmin
        # alone): every upload of the GCS plugin would fail on the VMs.
        (
            {"deny": ["storage.buckets.get"]},
            "missing permission storage.buckets.get; grant roles/storage.legacyBucketReader",
        ),
        # The VMs' side, from the Google APIs (omtx_hub/vm_preflight.py).
        (
            {"apis": (rf"{STORAGE}/b/[^/]+/iam", policy(["roles/storage.objectAdmin"]))},
            "lacks roles/storage.legacyBucketReader on the bucket gs://",
        ),
        (
            {"apis": (rf"{REGISTRY}/projects/.+/packages/.+/tags/.+", None)},
            f"image {IMAGE} does not exist at that tag (googlebatch-container)",
        ),
        (
            {"apis": (rf"{COMPUTE}/projects/[^/]+/regions/[^/]+", {"quotas": []})},
            "region us-central1 has no PREEMPTIBLE_NVIDIA_L4_GPUS quota",
        ),
    ],
    ids=[
        "unset-bucket",
        "bad-bucket",
        "local-store",
        "l4-on-n1",
        "budget",
        "untracked-binder-msa",
        "secret-to-jobs",
        "boot-image-lost",
        "no-bucket-read",
        "vm-account-without-bucket-read",
        "image-not-pushed",
        "no-l4-quota",
    ],
)
def test_bad_setup_stops_before_any_vm(checkout, monkeypatch, capfd, change, message):
    for name, value in change.get("env", {}).items():
        monkeypatch.delenv(name) if value is None else monkeypatch.setenv(name, value)
    if "config" in change:
        raw = yaml.safe_load((checkout / "screen.yaml").read_text()) | change["config"]
        (checkout / "screen.yaml").write_text(yaml.safe_dump(raw))
    if "profile_drop" in change:
        profile = checkout / "profiles/googlebatch/config.yaml"
        raw = yaml.safe_load(profile.read_text())
        del raw[change["profile_drop"]]
        profile.write_text(yaml.safe_dump(raw))
    if "deny" in change:
        # The emulator grants every permission asked for; this caller lacks some.
        monkeypatch.setattr(
            storage.Bucket,
            "test_iam_permissions",
            lambda bucket, permissions: [p for p in permissions if p not in change["deny"]],
        )
    configfile = "screen.yaml"
    if change.get("binder_screen"):
        write_binder_screen(tracked=False)
        configfile = "screen-binders.yaml"
    apis = FakeGoogleApis()
    if "apis" in change:
        apis.answer(*change["apis"])
    batch = FakeBatchService()
    arguments = change.get("args", [])
    status = run_snakemake(monkeypatch, batch, *arguments, configfile=configfile, google_apis=apis)
    assert status != 0
    assert batch.requests == []
    captured = capfd.readouterr()
    assert message in captured.out + captured.err


@pytest.mark.boltz  # the fake VM runs the real boltz predict
def test_secrets_stay_on_the_planning_machine(checkout, monkeypatch, gcs, tmp_path, capfd):
    """A Batch run whose protein's MSA comes from a server that needs a key, with a webhook
    whose URL carries a token and a ligand named like a command: the MSA fetch (a local rule)
    sends the key, the VM predicts without it, and neither secret nor the name is in any job
    request; no secret is in the uploaded sources, the bucket, the local files, the VM's files
    or any output."""
    api_key, token = "msa-key-DUMMY-93e1", "hook-token-DUMMY-77aa"
    (checkout / "ligands.csv").write_text(
        "name,smiles\naspirin,CC(=O)Oc1ccccc1C(=O)O\n$(touch pwned),CCO\n"
    )
    raw = yaml.safe_load((checkout / "screen.yaml").read_text())
    raw["proteins"][0]["msa"] = "server"
    (checkout / "screen.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    subprocess.run(["git", "add", "."], cwd=checkout, check=True)
    monkeypatch.setenv("OMTX_MSA_API_KEY", api_key)
    sources: dict[str, bytes] = {}

    class SourcesKeepingBatch(FakeBatchService):
        """Keeps the uploaded workflow sources as the jobs see them (Snakemake deletes the
        archive from the bucket when the run ends)."""

        def create_job(self, request):
            for blob in gcs.client.list_blobs(gcs, prefix="omtx-hub/snakemake-workflow-sources"):
                sources[blob.name] = blob.download_as_bytes()
            return super().create_job(request)

    batch = SourcesKeepingBatch(tmp_path / "vms", home=Path(os.environ["HOME"]))
    with fake_msa_server() as server, webhook_receiver() as (hook, notices):
        monkeypatch.setenv("OMTX_NOTIFY_URL", f"{hook}?token={token}")
        runtime = CPU_RUNTIME | {"msa_server_url": server.url}
        status = run_snakemake(monkeypatch, batch, *RESULTS, runtime=runtime)
    assert status == 0, "\n".join(batch.logs.values())[-5000:]
    assert [r["headers"]["X-API-Key"] for r in server.requests] == [api_key, api_key]
    assert [n["body"]["status"] for n in notices] == ["succeeded"]
    assert [r.job.labels["snakemake-job"] for r in batch.requests] == ["boltz-predict-shard"]

    requests = {
        f"job request {i}": batch_v1.CreateJobRequest.to_json(r).encode()
        for i, r in enumerate(batch.requests)
    }
    for request in batch.requests:
        variables = request.job.task_groups[0].task_spec.runnables[-1].environment.variables
        assert not set(variables) & set(SECRET_VARIABLES)
    assert files_holding(["$(touch pwned)", "touch pwned"], requests) == {}
    bucket = {b.name: b.download_as_bytes() for b in gcs.client.list_blobs(gcs)}
    ((archive, data),) = sources.items()
    shipped = [name for name, _ in contents(archive, data)]
    assert f"{archive}!!screen.yaml" in shipped and f"{archive}!!ligands.csv" in shipped
    captured = capfd.readouterr()
    outputs = {
        "snakemake's output": (captured.out + captured.err).encode(),
        "the VMs' output": "\n".join(batch.logs.values()).encode(),
        "the notice": json.dumps(notices).encode(),
    }
    looked_at = requests | sources | bucket | files_under(checkout) | files_under(tmp_path / "vms")
    assert files_holding([api_key, token], looked_at | outputs) == {}
    assert not (checkout / "pwned").exists() and not list((tmp_path / "vms").rglob("pwned"))


def set_screen(checkout: Path, rows: list[tuple[str, str]], **changes) -> None:
    """The checkout's screen with these ligands and config changes, tracked by git."""
    write_screen(checkout, rows=rows)
    raw = yaml.safe_load((checkout / "screen.yaml").read_text())
    for section, values in changes.items():
        raw[section] = {**raw.get(section, {}), **values}
    (checkout / "screen.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    subprocess.run(["git", "add", "."], cwd=checkout, check=True)


def test_canary_without_a_visible_gpu_is_the_only_vm(checkout, monkeypatch, gcs, tmp_path, capfd):
    """`accelerator: auto` on a VM given an L4 (the profile's nvidia_gpu) whose torch sees no
    CUDA device (this machine), in a screen of two shards with the default 3 attempts: the
    canary fails before Boltz starts instead of running on the CPU, says what torch saw, is
    not retried, the other shard is never submitted, and the run ends naming cause and fix."""
    set_screen(
        checkout,
        [("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("ethanol", "CCO")],
        sharding={"shard_size": 1},
    )
    batch = FakeBatchService(tmp_path / "vms", home=Path(os.environ["HOME"]))
    status = run_snakemake(
        monkeypatch, batch, *RESULTS, runtime={**CPU_RUNTIME, "accelerator": "auto"}
    )
    assert status != 0
    assert len(batch.requests) == 1
    assert "shard=00000" in command_of(batch.requests[0])
    # The job's output (what Cloud Logging shows) names the cause; Boltz never ran.
    (output,) = batch.logs.values()
    assert (
        "ShardError: runtime.accelerator is 'auto' on a job given a GPU (nvidia_gpu) but "
        "torch sees no CUDA device (GPU: no CUDA device; torch " in output
    )
    assert not list(gcs.client.list_blobs(gcs, prefix="store/targets/"))
    captured = capfd.readouterr()
    terminal = captured.out + captured.err
    assert "Stopping the run: the container sees no GPU although its VM was given one" in terminal
    assert "Fix: check that the image family is batch-cos-*" in terminal
    # Not retried; the run ends with that message, after the scheduler shut down.
    assert "Trying to restart job" not in terminal
    assert terminal.rindex("Stopping the run") > terminal.index("Shutting down")


class ScriptedBatch(FakeBatchService):
    """Starts no VM: the job of a shard in `failures`, and the n-th job submitted for n in
    `failing_jobs`, fail with that output; any other writes what its VM would (manifest,
    structures, benchmark) into the bucket and succeeds. Records, for each job, its protein
    and shard and the canary reports (protein/shard) that existed when it was submitted."""

    def __init__(self, bucket, failures=None, failing_jobs=None, structures: int = 1):
        super().__init__()
        self.bucket, self.structures = bucket, structures
        self.failures: dict[str, str] = failures or {}
        self.failing_jobs: dict[int, str] = failing_jobs or {}
        self.submitted: list[tuple[str, set[str]]] = []

    def create_job(self, request):
        self.requests.append(batch_v1.CreateJobRequest(request))
        name, uid = f"{request.parent}/jobs/{request.job_id}", uuid.uuid4().hex
        shard = re.search(r"shard=(\d+)", command_of(request)).group(1)
        protein = re.search(r"protein=(\w+)", command_of(request)).group(1)
        results = "omtx-hub/results/s1"
        canaries = self.bucket.client.list_blobs(self.bucket, prefix=f"{results}/canary/")
        self.submitted.append(
            (f"{protein}/{shard}", {blob.name.split("/canary/")[1][:-5] for blob in canaries})
        )
        state = batch_v1.JobStatus.State
        failure = self.failures.get(shard) or self.failing_jobs.get(len(self.requests))
        if failure:
            self.logs[uid] = failure
            self.states[name] = state.FAILED
            return batch_v1.Job(name=name, uid=uid)
        manifest = {
            "screen": "s1",
            "protein": protein,
            "shard": shard,
            "targets": 1,
            "reused": 0,
            "computed": 0,
            "failed": 0,
            "boltz_wall_s": 0.0,
            "job_wall_s": 1.0,
            "records": [],
            "machine": {
                "gpu": "NVIDIA L4",
                "torch": "2.x",
                "torch_cuda": "12.4",
                "driver": "NVRM version: 550.90.07",
                "vm_startup_s": 250.0,
            },
        }
        outputs = {
            f"{results}/shards/{protein}/{shard}.json": json.dumps(manifest),
            f"{results}/benchmarks/boltz_predict_shard/{protein}/{shard}.tsv": "s\n1\n",
        }
        for n in range(self.structures):
            outputs[f"{results}/structures/{protein}/{shard}/s1_{protein}_{n}_x.cif"] = "data_x\n"
        for path, content in outputs.items():
            self.bucket.blob(path).upload_from_string(content)
        self.states[name] = state.SUCCEEDED
        return batch_v1.Job(name=name, uid=uid)


TWENTY = [(f"alkane{n}", "C" * n) for n in range(1, 21)]


def manifests(shards: int) -> list[str]:
    return [f"results/s1/shards/P1/{n:05d}.json" for n in range(shards)]


def test_canary_success_then_fan_out(checkout, monkeypatch, gcs):
    """A canary that succeeds, then the other shards: each submitted after its report."""
    set_screen(checkout, TWENTY[:4], sharding={"shard_size": 1})
    batch = ScriptedBatch(gcs)
    assert run_snakemake(monkeypatch, batch, *manifests(4)) == 0
    shards = [re.search(r"shard=(\d+)", command_of(r)).group(1) for r in batch.requests]
    assert shards[0] == "00000" and sorted(shards) == ["00000", "00001", "00002", "00003"]
    assert [bool(reports) for _, reports in batch.submitted] == [False, True, True, True]
    report = json.loads(gcs.blob("omtx-hub/results/s1/canary/P1/00000.json").download_as_bytes())
    assert report["machine"]["gpu"] == "NVIDIA L4"
    # The digest the registry gave for the profile's tag when the run started.
    assert report["image_digest"] == "sha256:" + "ab" * 32
    # Nothing measured per target here: the assumed 30 s stay; the VM's 250 s start-up
    # does not replace the assumed start-up without a model-load time.
    assert report["estimate"].startswith("3 of 4 targets to predict, in 3 shard job(s)")
    log = gcs.blob("omtx-hub/logs/s1/canary/P1/00000.log").download_as_text()
    assert "Canary shard P1/00000 succeeded:\n  GPU NVIDIA L4; torch 2.x built for CUDA 12.4" in log
    # A rerun submits nothing, and runs no canary.
    assert run_snakemake(monkeypatch, batch, *manifests(4)) == 0
    assert len(batch.requests) == 4


def chai1_downloads(folder: Path) -> Path:
    """A Chai-1 downloads folder whose six components the plan hashes (not loadable)."""
    for name in (
        "conformers_v1.apkl",
        "esm/traced_sdpa_esm2_t36_3B_UR50D_fp16.pt",
        *(
            f"models_v2/{c}"
            for c in (
                "feature_embedding.pt",
                "bond_loss_input_proj.pt",
                "token_embedder.pt",
                "trunk.pt",
                "diffusion_module.pt",
                "confidence_head.pt",
            )
        ),
    ):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(name.encode())
    return folder


def test_a_chai1_screens_shards_run_in_the_chai1_image(checkout, monkeypatch, gcs, tmp_path):
    """`model.engine: chai1`: the shard jobs' container is the Chai-1 image (containers/chai1),
    named as the profile's Boltz image with `chai1` for `boltz`, through the job's
    `googlebatch_container` resource; the rest of the request is a Boltz shard's."""
    monkeypatch.setenv("CHAI_DOWNLOADS_DIR", str(chai1_downloads(tmp_path / "chai1-downloads")))
    set_screen(checkout, TWENTY[:2], sharding={"shard_size": 1}, model={"engine": "chai1"})
    batch = ScriptedBatch(gcs)
    assert run_snakemake(monkeypatch, batch, *manifests(2)) == 0
    assert len(batch.requests) == 2
    for request in batch.requests:
        task = request.job.task_groups[0].task_spec
        assert task.runnables[-1].container.image_uri == IMAGE.replace("/boltz:", "/chai1:")
        assert task.compute_resource.memory_mib == 28000  # the profile's, as for Boltz shards
        assert request.job.allocation_policy.instances[0].policy.accelerators[0].type_ == (
            "nvidia-l4"
        )


def test_a_screen_of_two_engines_runs_each_proteins_shards_in_its_engines_image(
    checkout, monkeypatch, gcs, tmp_path
):
    """A Boltz-2 protein beside a Chai-1 one (`proteins[].engine`): the Chai-1 protein's shard
    jobs run in the Chai-1 image, the Boltz-2 protein's in the profile's; each engine's first
    shard is its canary, and its other shards wait for that canary's report."""
    monkeypatch.setenv("CHAI_DOWNLOADS_DIR", str(chai1_downloads(tmp_path / "chai1-downloads")))
    set_screen(checkout, TWENTY[:2], sharding={"shard_size": 1})
    raw = yaml.safe_load((checkout / "screen.yaml").read_text())
    (boltz,) = raw["proteins"]
    raw["proteins"] = [boltz, {**boltz, "name": "P1_chai1", "engine": "chai1", "msa": "empty"}]
    (checkout / "screen.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    subprocess.run(["git", "add", "."], cwd=checkout, check=True)
    batch = ScriptedBatch(gcs)
    outputs = [f"results/s1/shards/{p}/{n:05d}.json" for p in ("P1", "P1_chai1") for n in (0, 1)]
    apis = FakeGoogleApis()
    assert run_snakemake(monkeypatch, batch, *outputs, google_apis=apis) == 0
    # Both images were looked up in the registry before anything was submitted.
    tags = sorted(url.split("/packages/")[1] for url in apis.urls if "/tags/" in url)
    assert tags == ["boltz/tags/0.1.0", "chai1/tags/0.1.0"], tags  # (the jobs' order is a set's)
    submitted = dict(batch.submitted)
    assert not submitted["P1/00000"] and not submitted["P1_chai1/00000"]
    assert "P1/00000" in submitted["P1/00001"]
    assert "P1_chai1/00000" in submitted["P1_chai1/00001"]
    for canary in ("P1/00000", "P1_chai1/00000"):
        report = json.loads(
            gcs.blob(f"omtx-hub/results/s1/canary/{canary}.json").download_as_bytes()
        )
        assert report["image_digest"] == "sha256:" + "ab" * 32, canary
    images = {
        re.search(r"protein=(\w+)", command_of(request)).group(1): request.job.task_groups[0]
        .task_spec.runnables[-1]
        .container.image_uri
        for request in batch.requests
    }
    assert images == {"P1": IMAGE, "P1_chai1": IMAGE.replace("/boltz:", "/chai1:")}


def test_deterministic_failure_in_shard_7_of_20_stops_submissions(
    checkout, monkeypatch, gcs, capfd
):
    """Without a canary, one job at a time: the 7th shard submitted is denied the bucket;
    it is not retried and none of the other 13 is submitted."""
    set_screen(checkout, TWENTY, sharding={"shard_size": 1, "canary": False})
    denied = (
        "google.api_core.exceptions.Forbidden: 403 POST https://storage.googleapis.com/upload/"
        "storage/v1/b/x/o: batch-sa@p.iam.gserviceaccount.com does not have "
        "storage.objects.create access to the Google Cloud Storage object."
    )
    batch = ScriptedBatch(gcs, failing_jobs={7: denied})
    assert run_snakemake(monkeypatch, batch, *manifests(20), "--jobs", "1") != 0
    shards = [re.search(r"shard=(\d+)", command_of(r)).group(1) for r in batch.requests]
    assert len(shards) == len(set(shards)) == 7
    written = gcs.client.list_blobs(gcs, prefix="omtx-hub/results/s1/shards/")
    assert len(list(written)) == 6
    terminal = "".join(capfd.readouterr())
    assert "Stopping the run: the job was denied access to the Cloud Storage bucket" in terminal
    assert "roles/storage.objectAdmin and roles/storage.legacyBucketReader" in terminal


def test_preempted_jobs_are_retried_up_to_sharding_attempts(checkout, monkeypatch, gcs):
    """A failure that is not deterministic (a preemption) is retried: sharding.attempts in
    all, not the profile's number."""
    set_screen(checkout, TWENTY[:1], sharding={"shard_size": 1, "attempts": 2})
    batch = ScriptedBatch(gcs, failures={"00000": "Task preempted (simulated)"})
    assert run_snakemake(monkeypatch, batch, *manifests(1)) != 0
    assert len(batch.requests) == 2


def test_missing_project_is_reported_by_the_plugin(checkout, monkeypatch, capfd):
    monkeypatch.delenv("SNAKEMAKE_GOOGLEBATCH_PROJECT")
    batch = FakeBatchService()
    assert run_snakemake(monkeypatch, batch) != 0
    assert batch.requests == []
    captured = capfd.readouterr()
    assert "--googlebatch-project" in captured.out + captured.err


def test_bucket_access_against_the_emulator(gcs):
    """The permission check's requests as the GCS emulator answers them (it grants all)."""
    from omtx_hub.cloud import CloudSetupError, check_bucket_access

    check_bucket_access(
        [f"gs://{gcs.name}/omtx-hub", f"gs://{gcs.name}/store"], gcs.client, user_project=PROJECT
    )
    granted = gcs.client.bucket(gcs.name).test_iam_permissions(list(BUCKET_PERMISSIONS))
    assert sorted(granted) == sorted(BUCKET_PERMISSIONS)
    with pytest.raises(CloudSetupError, match=r"bucket gs://omtx-no-such-bucket does not exist"):
        check_bucket_access(["gs://omtx-no-such-bucket/store"], gcs.client)


def test_network_settings_and_internal_ips_reach_the_vms(checkout, monkeypatch, gcs):
    """The profile's network, subnetwork and internal-IP-only setting (step 1d of
    docs/google-batch.md) in every job request; plugin 0.5.1 alone has no internal-IP
    option (omtx_hub/batch_network.py)."""
    network = f"projects/{PROJECT}/global/networks/omtx"
    subnetwork = f"projects/{PROJECT}/regions/{REGION}/subnetworks/omtx-{REGION}"
    profile_file = checkout / "profiles/googlebatch/config.yaml"
    profile = yaml.safe_load(profile_file.read_text())
    profile["googlebatch-network"], profile["googlebatch-subnetwork"] = network, subnetwork
    profile["set-resources"]["boltz_predict_shard"]["googlebatch_no_external_ip"] = 1
    profile_file.write_text(yaml.safe_dump(profile))
    set_screen(checkout, TWENTY[:2], sharding={"shard_size": 1})
    batch = ScriptedBatch(gcs)
    assert run_snakemake(monkeypatch, batch, *manifests(2)) == 0
    assert len(batch.requests) == 2
    for request in batch.requests:
        (interface,) = request.job.allocation_policy.network.network_interfaces
        assert (interface.network, interface.subnetwork) == (network, subnetwork)
        assert interface.no_external_ip_address is True


def rerun_requests(checkout, monkeypatch, gcs, structures: int) -> list[str]:
    """The Cloud Storage requests of a rerun of a finished 6-shard screen whose shards wrote
    `structures` structure files each: planning, the storage plugin's checks, nothing run."""
    set_screen(checkout, TWENTY[:6], sharding={"shard_size": 1, "canary": False})
    batch = ScriptedBatch(gcs, structures=structures)
    assert run_snakemake(monkeypatch, batch, *manifests(6)) == 0
    sent = []
    send = requests.Session.send

    def counted(session, request, **kwargs):
        sent.append(f"{request.method} {request.url}")
        return send(session, request, **kwargs)

    with monkeypatch.context() as counting:
        counting.setattr(requests.Session, "send", counted)
        assert run_snakemake(monkeypatch, batch, *manifests(6)) == 0
    assert len(batch.requests) == 6  # the rerun submitted nothing
    return sent


def test_a_rerun_asks_cloud_storage_per_shard_not_per_structure(checkout, monkeypatch, gcs):
    """Issue 20, item 5, at a small scale (CI's check; benchmarks/rerun_requests.py measures
    10,000 and 100,000 targets: 6.3 requests per shard at 100,000, docs/performance.md): the
    storage plugin lists a shard's structures directory by its own prefix (with a trailing
    '/'), never the protein's, so a rerun's requests do not grow with the structures."""
    one = rerun_requests(checkout, monkeypatch, gcs, structures=1)
    listings = [url for url in one if "/o?" in url and "structures" in url]
    assert listings and all(re.search(r"structures%2FP1%2F\d{5}%2F&", url) for url in listings)
    subprocess.run(["git", "clean", "-fdxq", ".snakemake"], cwd=checkout, check=True)
    for blob in gcs.client.list_blobs(gcs, prefix="omtx-hub/"):
        blob.delete()
    forty = rerun_requests(checkout, monkeypatch, gcs, structures=40)
    assert len(forty) == len(one)
