"""Checks of scripts/gcp_smoke_test.sh on what gcloud prints (JSON on stdin), run with the
project's .venv/bin/python: the roles the jobs' service account needs are the ones the run's
own pre-flight checks (omtx_hub.vm_preflight).

  roles SERVICE_ACCOUNT      stdin: the IAM policies of the project, the bucket and the
                             Artifact Registry repository, one JSON document after another
  quotas JOBS                stdin: `gcloud compute regions describe REGION --format=json`
  startup JOB_WALL_S         stdin: `gcloud batch jobs list --format=json` (this run's jobs)

Each prints what it found and exits non-zero, with the fix, when the setup falls short.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from omtx_hub.vm_preflight import BROAD_ROLES, NEEDED_ROLES, missing_roles

SCOPES = ("project", "bucket", "repository")
# What one shard VM holds (profiles/googlebatch): g2-standard-8 with one L4, a 100 GB
# pd-balanced boot disk (counts as SSD), and an external IP (the plugin sets no network).
PER_SHARD = {
    "PREEMPTIBLE_NVIDIA_L4_GPUS": 1,
    "CPUS": 8,
    "SSD_TOTAL_GB": 100,
    "IN_USE_ADDRESSES": 1,
}


def json_documents(text: str) -> list:
    decoder, documents, position = json.JSONDecoder(), [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return documents
        document, position = decoder.raw_decode(text, position)
        documents.append(document)


def check_roles(service_account: str, policies: list[dict]) -> list[str]:
    """The roles the service account lacks, as 'ROLE on the SCOPE'."""
    by_scope = dict(zip(SCOPES, policies, strict=True))
    missing = missing_roles(service_account, by_scope)
    for scope, role, _ in NEEDED_ROLES:
        if (scope, role) not in missing:
            print(f"  ok  {role} ({scope})")
    member = f"serviceAccount:{service_account}"
    broad = BROAD_ROLES & {
        b["role"] for b in by_scope["project"].get("bindings", []) if member in b.get("members", [])
    }
    if broad:
        print(f"  note: {sorted(broad)} on the project covers every role above")
    return [f"{role} on the {scope}" for scope, role in missing]


def shards_that_fit(region: dict) -> dict[str, int]:
    """Per quota metric that one shard VM uses: how many shard VMs its free amount holds."""
    free = {q["metric"]: q["limit"] - q["usage"] for q in region["quotas"]}
    per_shard = dict(PER_SHARD)
    for metric in free:  # e.g. G2 CPU quotas, where the region lists them
        if "G2" in metric:
            per_shard.setdefault(metric, 8 if "CPU" in metric else 1)
    room = {}
    for metric, need in per_shard.items():
        if metric in free:
            room[metric] = int(free[metric] // need)
            print(f"  {metric}: {free[metric]:g} free -> {room[metric]} shard VM(s)")
        else:
            print(f"  {metric}: not listed for this region")
    return room


def startup_seconds(jobs: list[dict], job_wall_s: float) -> list[tuple[str, float, float]]:
    """(job, seconds from creation to end, seconds beyond the shard job) per finished job."""

    def seconds(timestamp: str) -> float:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()

    return [
        (job["name"].rsplit("/", 1)[-1], total, total - job_wall_s)
        for job in jobs
        if job["status"]["state"] == "SUCCEEDED"
        for total in [seconds(job["updateTime"]) - seconds(job["createTime"])]
    ]


def main(arguments: list[str]) -> int:
    command, value = arguments
    text = sys.stdin.read()
    if command == "roles":
        missing = check_roles(value, json_documents(text))
        if missing:
            print(
                f"the jobs' service account {value} lacks: "
                + "; ".join(missing)
                + " (docs/google-batch.md, step 1b)",
                file=sys.stderr,
            )
            return 1
    elif command == "quotas":
        room = shards_that_fit(json.loads(text))
        if not room.get("PREEMPTIBLE_NVIDIA_L4_GPUS"):
            print(
                "no Spot/preemptible L4 quota free in this region: request "
                "PREEMPTIBLE_NVIDIA_L4_GPUS (docs/google-batch.md, step 1c)",
                file=sys.stderr,
            )
            return 1
        fits = min(room.values())
        print(f"  shard VMs that fit at once: {fits}; profile jobs: {value}")
        if fits < int(value):
            print(
                f"  -> run with --jobs {fits} or request more quota: jobs over quota wait "
                "in SCHEDULED with no message (docs/google-batch.md, step 1c)"
            )
    elif command == "startup":
        for job, total, startup in startup_seconds(json.loads(text), float(value)):
            print(
                f"Batch job {job}: {total:.0f} s from creation to end, {value} s in the "
                f"shard job -> start-up <= {startup:.0f} s (cost.startup_s_per_shard; "
                "includes any wait for capacity)"
            )
    else:
        raise SystemExit(f"unknown check {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
