"""The checks scripts/gcp_smoke_test.sh runs on gcloud's JSON (scripts/gcp_smoke/check_setup.py),
fed documents of the shape gcloud prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "scripts/gcp_smoke/check_setup.py"
SA = "123-compute@developer.gserviceaccount.com"


def run_check(command: str, value: str, *documents) -> subprocess.CompletedProcess:
    stdin = "\n".join(json.dumps(document, indent=1) for document in documents)
    return subprocess.run(
        [sys.executable, str(CHECK), command, value], input=stdin, capture_output=True, text=True
    )


def policy(*roles: str, member: str = f"serviceAccount:{SA}") -> dict:
    return {"bindings": [{"role": role, "members": [member]} for role in roles], "etag": "x"}


def test_service_account_roles():
    project = policy(
        "roles/batch.agentReporter",
        "roles/logging.logWriter",
        "roles/serviceusage.serviceUsageConsumer",
    )
    repository = policy("roles/artifactregistry.reader")
    complete = run_check(
        "roles",
        SA,
        project,
        policy("roles/storage.objectAdmin", "roles/storage.legacyBucketReader"),
        repository,
    )
    assert complete.returncode == 0, complete.stderr
    # roles/storage.objectAdmin alone: no storage.buckets.get for the GCS plugin.
    short = run_check("roles", SA, project, policy("roles/storage.objectAdmin"), repository)
    assert short.returncode == 1
    assert "lacks: roles/storage.legacyBucketReader on the bucket" in short.stderr
    # Project Editor (the default compute account's, unless removed) covers them all.
    editor = run_check("roles", SA, policy("roles/editor"), policy(), policy())
    assert editor.returncode == 0 and "covers every role" in editor.stdout
    other = run_check(
        "roles", SA, policy("roles/editor", member="user:me@x.org"), policy(), policy()
    )
    assert other.returncode == 1 and "roles/batch.agentReporter on the project" in other.stderr


def quota(metric: str, limit: float, usage: float = 0) -> dict:
    return {"metric": metric, "limit": limit, "usage": usage}


def test_quotas_bound_the_shards_that_run_at_once():
    region = {
        "quotas": [
            quota("PREEMPTIBLE_NVIDIA_L4_GPUS", 8),
            quota("CPUS", 24),
            quota("SSD_TOTAL_GB", 500, 100),
            quota("IN_USE_ADDRESSES", 8),
        ]
    }
    result = run_check("quotas", "8", region)
    assert result.returncode == 0
    assert "shard VMs that fit at once: 3; profile jobs: 8" in result.stdout  # 24 CPUs / 8
    assert "run with --jobs 3" in result.stdout
    no_l4 = run_check("quotas", "8", {"quotas": [quota("CPUS", 24)]})
    assert no_l4.returncode == 1 and "request PREEMPTIBLE_NVIDIA_L4_GPUS" in no_l4.stderr


def test_startup_from_the_batch_job_times():
    jobs = [
        {
            "name": "projects/p/locations/r/jobs/boltz-1",
            "status": {"state": "SUCCEEDED"},
            "createTime": "2026-11-29T10:00:00.5Z",
            "updateTime": "2026-11-29T10:12:00.5Z",
        }
    ]
    result = run_check("startup", "300.0", jobs)
    assert "720 s from creation to end, 300.0 s in the shard job -> start-up <= 420 s" in (
        result.stdout
    )
