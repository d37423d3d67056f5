"""Pre-flight of the VMs' side of a Google Batch run (omtx_hub.vm_preflight) against a fake
of the Google APIs; the run that stops on it: tests/cloud/test_googlebatch.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from omtx_hub.cloud import CloudSetupError
from omtx_hub.vm_preflight import (
    COMPUTE,
    CRM,
    REGISTRY,
    STORAGE,
    NotAllowed,
    VmSide,
    check_vm_setup,
    check_vm_side,
    vm_sides_of,
)
from tests.google_apis import SERVICE_ACCOUNT, FakeGoogleApis, policy

IMAGE = "us-central1-docker.pkg.dev/omtx-p/omtx-hub/boltz:0.1.0"
VM = VmSide(
    project="omtx-p", region="us-central1", buckets=["omtx-b"], image=IMAGE, gpu="nvidia-l4"
)
REPOSITORY = f"{REGISTRY}/projects/omtx-p/locations/us-central1/repositories/omtx-hub"


def test_a_project_set_up_as_documented_passes():
    apis = FakeGoogleApis()
    found = check_vm_side(VM, apis)
    assert (found.problems, found.unchecked) == ([], [])
    assert found.image_digests == {IMAGE: "sha256:" + "ab" * 32}  # what the tag points at
    assert apis.urls == [
        f"{CRM}/projects/omtx-p",
        f"{CRM}/projects/omtx-p:getIamPolicy",
        f"{STORAGE}/b/omtx-b/iam",
        f"{REPOSITORY}:getIamPolicy",
        f"{REPOSITORY}/packages/boltz/tags/0.1.0",
        f"{COMPUTE}/projects/omtx-p/regions/us-central1",
        f"{COMPUTE}/projects/omtx-p/global/networks/default",
    ]


def problems(apis, vm=VM) -> list[str]:
    return check_vm_side(vm, apis).problems


def test_a_missing_role_is_named_with_the_command_that_grants_it():
    apis = FakeGoogleApis().answer(rf"{STORAGE}/b/[^/]+/iam", policy(["roles/storage.objectAdmin"]))
    assert problems(apis) == [
        f"the jobs' service account {SERVICE_ACCOUNT} lacks roles/storage.legacyBucketReader "
        "on the bucket gs://omtx-b: gcloud storage buckets add-iam-policy-binding gs://omtx-b "
        f"--member=serviceAccount:{SERVICE_ACCOUNT} --role=roles/storage.legacyBucketReader"
    ]
    apis.answer(
        rf"{REGISTRY}/projects/[^/]+/locations/[^/]+/repositories/[^/]+:getIamPolicy", policy([])
    )
    assert (
        "lacks roles/artifactregistry.reader on the repository: gcloud artifacts repositories "
        "add-iam-policy-binding omtx-hub --location=us-central1 --project=omtx-p"
    ) in problems(apis)[1]


def test_roles_held_on_the_project_count_everywhere():
    apis = FakeGoogleApis().answer(rf"{STORAGE}/b/[^/]+/iam", policy([]))
    apis.answer(rf"{CRM}/projects/[^/]+:getIamPolicy", policy(["roles/editor"]))
    assert problems(apis) == []


def test_a_named_service_account_is_checked_instead_of_the_default_one():
    vm = VmSide(**{**VM.__dict__, "service_account": "jobs@omtx-p.iam.gserviceaccount.com"})
    found = problems(FakeGoogleApis(), vm)
    assert len(found) == 6 and all("jobs@omtx-p.iam.gserviceaccount.com lacks" in p for p in found)


def test_an_image_not_at_the_tag_is_named_with_the_build():
    apis = FakeGoogleApis().answer(rf"{REGISTRY}/projects/.+/packages/.+/tags/.+", None)
    assert problems(apis) == [
        f"image {IMAGE} does not exist at that tag (googlebatch-container): build and push it "
        "(gcloud builds submit --config cloudbuild.yaml --substitutions=_REGION=us-central1 .; "
        "docs/google-batch.md, step 2)"
    ]


def test_a_missing_repository_is_named_with_its_creation():
    pattern = rf"{REGISTRY}/projects/[^/]+/locations/[^/]+/repositories/[^/]+:getIamPolicy"
    apis = FakeGoogleApis().answer(pattern, None)
    assert (
        "gcloud artifacts repositories create omtx-hub --repository-format=docker"
        in (problems(apis)[0])
    )


@pytest.mark.parametrize(
    ("preemptible", "metric"), [(True, "PREEMPTIBLE_NVIDIA_L4_GPUS"), (False, "NVIDIA_L4_GPUS")]
)
def test_no_gpu_quota_in_the_region_is_named(preemptible, metric):
    vm = VmSide(**{**VM.__dict__, "preemptible": preemptible})
    apis = FakeGoogleApis().answer(
        rf"{COMPUTE}/projects/[^/]+/regions/[^/]+",
        {"quotas": [{"metric": metric, "limit": 0.0, "usage": 0.0}]},
    )
    assert problems(apis, vm) == [
        f"region us-central1 has no {metric} quota: no VM could start (jobs would wait in "
        f"SCHEDULED without a message). Request it under IAM & Admin > Quotas, metric {metric}, "
        "region us-central1 (docs/google-batch.md, step 1c)"
    ]


def test_a_network_that_does_not_exist_is_named():
    apis = FakeGoogleApis().answer(rf"{COMPUTE}/projects/[^/]+/global/networks/[^/]+", None)
    assert problems(apis)[0].startswith(
        "network projects/omtx-p/global/networks/default does not exist"
    )
    vm = VmSide(**{**VM.__dict__, "network": "projects/omtx-p/global/networks/omtx"})
    assert "gcloud compute networks create omtx --subnet-mode=auto" in problems(apis, vm)[0]


def test_internal_ips_need_private_google_access():
    vm = VmSide(**{**VM.__dict__, "subnetwork": "omtx-sub", "internal_ip_only": True})
    apis = FakeGoogleApis()
    assert problems(apis, vm) == []
    assert apis.urls[-1] == f"{COMPUTE}/projects/omtx-p/regions/us-central1/subnetworks/omtx-sub"
    apis.answer(rf"{COMPUTE}/projects/[^/]+/regions/[^/]+/subnetworks/[^/]+", {})
    assert problems(apis, vm) == [
        "subnetwork projects/omtx-p/regions/us-central1/subnetworks/omtx-sub has no Private "
        "Google Access: VMs with internal IPs only could not pull the image or reach the "
        "bucket. Turn it on (gcloud compute networks subnets update omtx-sub "
        "--region=us-central1 --enable-private-ip-google-access --project=omtx-p)"
    ]


def test_what_the_caller_may_not_read_is_left_unchecked():
    apis = FakeGoogleApis().answer(
        rf"{STORAGE}/b/[^/]+/iam", NotAllowed("403 storage.buckets.getIamPolicy")
    )
    found = check_vm_side(VM, apis)
    assert found.problems == []
    assert found.unchecked == [
        "gs://omtx-b's IAM policy: not allowed to read it (403 storage.buckets.getIamPolicy)"
    ]


def test_problems_stop_the_run_before_anything_is_submitted():
    apis = FakeGoogleApis().answer(rf"{REGISTRY}/projects/.+/packages/.+/tags/.+", None)
    with pytest.raises(CloudSetupError, match=r"on the VMs' side \(nothing was submitted\):\n"):
        check_vm_setup([VM], apis)
    assert check_vm_setup([VM], FakeGoogleApis()).unchecked == []


def test_each_image_of_a_screen_of_two_engines_is_checked_and_each_problem_named_once():
    """A Chai-1 protein's shards run in the Chai-1 image: a missing Chai-1 image stops the run
    before any VM, as a missing Boltz-2 image does; a problem both share is named once."""
    chai1 = VmSide(**{**VM.__dict__, "image": IMAGE.replace("/boltz:", "/chai1:")})
    apis = (
        FakeGoogleApis()
        .answer(rf"{REGISTRY}/projects/.+/packages/chai1/tags/.+", None)
        .answer(rf"{COMPUTE}/projects/omtx-p/global/networks/default", None)
    )
    with pytest.raises(CloudSetupError) as error:
        check_vm_setup([VM, chai1], apis)
    message = str(error.value)
    assert f"image {chai1.image} does not exist at that tag" in message
    assert f"image {IMAGE} does not exist" not in message
    assert message.count("network projects/omtx-p/global/networks/default does not exist") == 1
    found = check_vm_setup([VM, chai1], FakeGoogleApis())
    assert found.image_digests.keys() == {IMAGE, chai1.image}


def test_the_jobs_give_one_vm_side_per_image():
    settings = SimpleNamespace(
        project="omtx-p",
        region="us-central1",
        container=IMAGE,
        service_account=None,
        network=None,
        subnetwork=None,
    )
    chai1 = IMAGE.replace("/boltz:", "/chai1:")
    jobs = [
        {"nvidia_gpu": "nvidia-l4", "googlebatch_container": ""},
        {"nvidia_gpu": "nvidia-l4", "googlebatch_container": chai1},
        {"nvidia_gpu": "nvidia-l4", "googlebatch_container": ""},
    ]
    sides = vm_sides_of(settings, jobs, buckets=["omtx-b"], preemptible=True)
    assert [side.image for side in sides] == [IMAGE, chai1]
    assert sides[0] == VM
