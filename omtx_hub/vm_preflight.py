"""Pre-flight of the VMs' side of a Google Batch run, before anything is submitted.

`omtx_hub.cloud.check_bucket_access` checks the caller; the VMs run as a service account of
their own, pull an image from Artifact Registry, need GPU quota in the region and a network.
`check_vm_side` asks the Google APIs (REST, with the caller's Application Default
Credentials) what it can of that:

- the jobs' service account holds the roles of docs/google-batch.md step 1b on the project,
  on each bucket and on the image's repository;
- each image exists at the tag the profile names (the Chai-1 image too, in a screen with a
  Chai-1 protein: omtx_hub.chai1.chai1_image);
- the region's quota for the job's GPU (Spot/preemptible or on-demand) is above zero;
- the network (and subnetwork) the VMs would use exists; with internal IPs only, the
  subnetwork has Private Google Access.

Each problem is named with the command that fixes it. What the caller may not read (an IAM
policy it has no right to see) is reported as not checked; that, and everything else (the GPU
inside the container, the driver), is left to the canary (omtx_hub.canary).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from omtx_hub.cloud import CloudSetupError

# (scope, role the jobs' service account needs, roles that include it): step 1b.
NEEDED_ROLES = [
    ("project", "roles/batch.agentReporter", set()),
    ("project", "roles/logging.logWriter", set()),
    ("project", "roles/serviceusage.serviceUsageConsumer", set()),
    ("bucket", "roles/storage.objectAdmin", {"roles/storage.admin"}),
    (
        "bucket",
        "roles/storage.legacyBucketReader",
        {"roles/storage.admin", "roles/storage.legacyBucketOwner"},
    ),
    (
        "repository",
        "roles/artifactregistry.reader",
        {"roles/artifactregistry.writer", "roles/artifactregistry.admin"},
    ),
]
BROAD_ROLES = {"roles/owner", "roles/editor"}
# Compute Engine's regional quota metric of each GPU type (on-demand; Spot/preemptible VMs
# use the PREEMPTIBLE_ one). Other types are not checked.
GPU_QUOTA_METRIC = {
    "nvidia-l4": "NVIDIA_L4_GPUS",
    "nvidia-tesla-t4": "NVIDIA_T4_GPUS",
    "nvidia-tesla-a100": "NVIDIA_A100_GPUS",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB_GPUS",
}
ARTIFACT_IMAGE = re.compile(
    r"^(?P<location>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repository>[^/]+)/"
    r"(?P<package>[^:@]+):(?P<tag>[^@/]+)$"
)
CRM = "https://cloudresourcemanager.googleapis.com/v1"
STORAGE = "https://storage.googleapis.com/storage/v1"
REGISTRY = "https://artifactregistry.googleapis.com/v1"
COMPUTE = "https://compute.googleapis.com/compute/v1"


class NotAllowed(Exception):
    """The caller may not read this (HTTP 403)."""


class GoogleApis(Protocol):
    def get(self, url: str) -> dict | None:
        """The resource's JSON; None when it does not exist (404)."""

    def post(self, url: str) -> dict | None: ...


class RestApis:
    """GoogleApis over an authorised requests session (google.auth.transport.requests)."""

    def __init__(self, session):
        self.session = session

    def _call(self, method: str, url: str) -> dict | None:
        response = self.session.request(method, url, timeout=60)
        if response.status_code == 404:
            return None
        if response.status_code == 403:
            raise NotAllowed(response.text[:300])
        response.raise_for_status()
        return response.json()

    def get(self, url: str) -> dict | None:
        return self._call("GET", url)

    def post(self, url: str) -> dict | None:
        return self._call("POST", url)


def google_apis() -> GoogleApis:
    """The Google APIs with Application Default Credentials (what Snakemake uses)."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    return RestApis(AuthorizedSession(credentials))


@dataclass(frozen=True)
class VmSide:
    """What the VMs of the run would use, from the googlebatch settings and job resources."""

    project: str
    region: str
    buckets: list[str]
    image: str
    gpu: str | None = None
    preemptible: bool = True
    service_account: str | None = None  # None: the Compute Engine default service account
    network: str | None = None
    subnetwork: str | None = None
    internal_ip_only: bool = False


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    # The digest Artifact Registry gives for each image's tag (what the VMs will pull).
    image_digests: dict[str, str] = field(default_factory=dict)


def missing_roles(service_account: str, policies: dict[str, dict]) -> list[tuple[str, str]]:
    """(scope, role) of every role of NEEDED_ROLES the service account lacks, given the IAM
    policies of the scopes (`project`, `bucket`, `repository`; a scope left out is not
    checked). A role granted on the project applies to its buckets and repositories too."""
    member = f"serviceAccount:{service_account}"
    held = {
        scope: {b["role"] for b in policy.get("bindings", []) if member in b.get("members", [])}
        for scope, policy in policies.items()
    }
    on_project = held.get("project", set())
    if on_project & BROAD_ROLES:
        return []
    return [
        (scope, role)
        for scope, role, wider in NEEDED_ROLES
        if scope in held and not ({role} | wider) & (held[scope] | on_project)
    ]


def _resource_path(value: str, kind: str, default_parent: str) -> str:
    """`projects/...` as given, or a short name under `default_parent`."""
    return value if value.startswith("projects/") else f"{default_parent}/{kind}/{value}"


def check_vm_side(vm: VmSide, apis: GoogleApis) -> Findings:
    found = Findings()

    def ask(what: str, call, url: str):
        try:
            return call(url), True
        except NotAllowed as error:
            found.unchecked.append(f"{what}: not allowed to read it ({error})")
        except Exception as error:  # noqa: BLE001 - an API that fails leaves it unchecked
            found.unchecked.append(f"{what}: {error}")
        return None, False

    account = vm.service_account
    if account is None:
        project, known = ask(f"project {vm.project}", apis.get, f"{CRM}/projects/{vm.project}")
        if known and project:
            account = f"{project['projectNumber']}-compute@developer.gserviceaccount.com"
    image = ARTIFACT_IMAGE.match(vm.image)
    if image is None:
        found.unchecked.append(f"image {vm.image}: not an Artifact Registry image")
    if account:
        policies = {}
        policy, known = ask(
            "the project's IAM policy", apis.post, f"{CRM}/projects/{vm.project}:getIamPolicy"
        )
        if known and policy is not None:
            policies["project"] = policy
        grants = {
            "project": f"gcloud projects add-iam-policy-binding {vm.project} "
            f"--member=serviceAccount:{account} --role=ROLE"
        }
        for bucket in vm.buckets:
            policy, known = ask(
                f"gs://{bucket}'s IAM policy", apis.get, f"{STORAGE}/b/{bucket}/iam"
            )
            if known and policy is not None:
                grants[f"bucket gs://{bucket}"] = (
                    f"gcloud storage buckets add-iam-policy-binding gs://{bucket} "
                    f"--member=serviceAccount:{account} --role=ROLE"
                )
                policies[f"bucket gs://{bucket}"] = policy
        if image:
            repository = (
                f"projects/{image['project']}/locations/{image['location']}/repositories/"
                f"{image['repository']}"
            )
            policy, known = ask(
                f"repository {image['repository']}'s IAM policy",
                apis.get,
                f"{REGISTRY}/{repository}:getIamPolicy",
            )
            if known and policy is None:
                found.problems.append(
                    f"Artifact Registry repository {repository} does not exist: create it "
                    f"(gcloud artifacts repositories create {image['repository']} "
                    f"--repository-format=docker --location={image['location']} "
                    f"--project={image['project']}) and build the image (docs/google-batch.md, "
                    "step 2)"
                )
            elif known:
                policies["repository"] = policy
                grants["repository"] = (
                    f"gcloud artifacts repositories add-iam-policy-binding "
                    f"{image['repository']} --location={image['location']} "
                    f"--project={image['project']} --member=serviceAccount:{account} "
                    "--role=ROLE"
                )
        # Without the project's policy a role held there cannot be seen: no role is judged.
        for name, policy in policies.items() if "project" in policies else ():
            scope = name.split(" ")[0]
            scoped = {"project": policies["project"], scope: policy}
            for lacking_scope, role in missing_roles(account, scoped):
                if lacking_scope == scope:
                    found.problems.append(
                        f"the jobs' service account {account} lacks {role} on the {name}: "
                        + grants[name].replace("ROLE", role)
                    )
    if image:
        package = quote(image["package"], safe="")
        tag_url = (
            f"{REGISTRY}/projects/{image['project']}/locations/{image['location']}/"
            f"repositories/{image['repository']}/packages/{package}/tags/{image['tag']}"
        )
        tag, known = ask(f"image {vm.image}", apis.get, tag_url)
        if known and tag is not None and "version" in tag:
            found.image_digests[vm.image] = tag["version"].rsplit("/", 1)[-1]
        if known and tag is None:
            found.problems.append(
                f"image {vm.image} does not exist at that tag (googlebatch-container): build "
                f"and push it (gcloud builds submit --config cloudbuild.yaml "
                f"--substitutions=_REGION={image['location']} .; docs/google-batch.md, step 2)"
            )
    metric = GPU_QUOTA_METRIC.get(vm.gpu or "")
    if metric:
        metric = f"PREEMPTIBLE_{metric}" if vm.preemptible else metric
        region, known = ask(
            f"region {vm.region}", apis.get, f"{COMPUTE}/projects/{vm.project}/regions/{vm.region}"
        )
        if known and region is not None:
            limit = next((q["limit"] for q in region.get("quotas", []) if q["metric"] == metric), 0)
            if limit <= 0:
                found.problems.append(
                    f"region {vm.region} has no {metric} quota: no VM could start (jobs would "
                    "wait in SCHEDULED without a message). Request it under IAM & Admin > "
                    f"Quotas, metric {metric}, region {vm.region} (docs/google-batch.md, step 1c)"
                )
    network = _resource_path(vm.network or "default", "global/networks", f"projects/{vm.project}")
    reply, known = ask(f"network {network}", apis.get, f"{COMPUTE}/{network}")
    if known and reply is None:
        found.problems.append(
            f"network {network} does not exist: the VMs would have no network. Create it "
            f"(gcloud compute networks create {network.rsplit('/', 1)[-1]} --subnet-mode=auto "
            f"--project={vm.project}) or name an existing one with googlebatch-network "
            "(docs/google-batch.md, step 1d)"
        )
    if vm.subnetwork or vm.internal_ip_only:
        subnetwork = _resource_path(
            vm.subnetwork or network.rsplit("/", 1)[-1],
            "subnetworks",
            f"projects/{vm.project}/regions/{vm.region}",
        )
        reply, known = ask(f"subnetwork {subnetwork}", apis.get, f"{COMPUTE}/{subnetwork}")
        if known and reply is None:
            found.problems.append(
                f"subnetwork {subnetwork} does not exist: name an existing one with "
                "googlebatch-subnetwork (gcloud compute networks subnets list "
                f"--regions={vm.region}; docs/google-batch.md, step 1d)"
            )
        elif known and vm.internal_ip_only and not reply.get("privateIpGoogleAccess"):
            found.problems.append(
                f"subnetwork {subnetwork} has no Private Google Access: VMs with internal IPs "
                "only could not pull the image or reach the bucket. Turn it on (gcloud compute "
                f"networks subnets update {subnetwork.rsplit('/', 1)[-1]} "
                f"--region={vm.region} --enable-private-ip-google-access "
                f"--project={vm.project})"
            )
    return found


def pulled_image(job_container: str | None, settings) -> str:
    """The image a Google Batch job pulls: its `googlebatch_container` resource, else the
    run's googlebatch-container (plugin 0.5.1's `get_container`, in its executor.py); ""
    where neither is set (`settings` of another executor have no container)."""
    return job_container or getattr(settings, "container", None) or ""


def vm_sides_of(
    settings, resources: Iterable, buckets: list[str], preemptible: bool
) -> list[VmSide]:
    """The VmSides of the googlebatch executor `settings` and the resources of the GPU jobs
    about to be submitted, each once, in the jobs' order: one for a screen of one engine (the
    profile sets the resources per rule), one per image in a screen of two (a Chai-1
    protein's shards run in the Chai-1 image)."""
    from omtx_hub.batch_network import NO_EXTERNAL_IP

    sides = []
    for job in resources:
        side = VmSide(
            project=settings.project,
            region=settings.region,
            buckets=buckets,
            image=pulled_image(job.get("googlebatch_container"), settings),
            gpu=job.get("nvidia_gpu"),
            preemptible=preemptible,
            service_account=job.get("googlebatch_service_account") or settings.service_account,
            network=job.get("googlebatch_network") or settings.network,
            subnetwork=job.get("googlebatch_subnetwork") or settings.subnetwork,
            internal_ip_only=bool(job.get(NO_EXTERNAL_IP)),
        )
        if side not in sides:
            sides.append(side)
    return sides


def check_vm_setup(vms: Iterable[VmSide], apis: GoogleApis | None = None) -> Findings:
    """CloudSetupError naming every problem check_vm_side finds on any of `vms` (nothing was
    submitted), each once; else the findings: what could not be checked (left to the
    canary), each image's digest."""
    apis = apis or google_apis()
    found = Findings()
    for vm in vms:
        side = check_vm_side(vm, apis)
        found.problems += [problem for problem in side.problems if problem not in found.problems]
        found.unchecked += [what for what in side.unchecked if what not in found.unchecked]
        found.image_digests |= side.image_digests
    if found.problems:
        raise CloudSetupError(
            "Google Batch setup problems on the VMs' side (nothing was submitted):\n  - "
            + "\n  - ".join(found.problems)
        )
    return found
