#!/usr/bin/env bash
# One-time check of a Google Batch setup (docs/google-batch.md): checks credentials, APIs,
# bucket, image, the jobs' service account roles and the region's quotas, then runs a
# 2-ligand screen on one Spot L4 VM with profiles/googlebatch and checks its results in the
# bucket, the GPU torch saw on the VM and the VM start-up time. Costs a few cents; takes
# ~10-15 minutes, most of it VM start-up and the image pull.
#   export SNAKEMAKE_GOOGLEBATCH_PROJECT=... SNAKEMAKE_GOOGLEBATCH_REGION=... \
#          SNAKEMAKE_STORAGE_GCS_PROJECT=... OMTX_BUCKET=...
#   scripts/gcp_smoke_test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

for variable in SNAKEMAKE_GOOGLEBATCH_PROJECT SNAKEMAKE_GOOGLEBATCH_REGION \
    SNAKEMAKE_STORAGE_GCS_PROJECT OMTX_BUCKET; do
    if [[ -z "${!variable:-}" ]]; then
        echo "export $variable first (docs/google-batch.md, step 1)" >&2
        exit 2
    fi
done
project=$SNAKEMAKE_GOOGLEBATCH_PROJECT
region=$SNAKEMAKE_GOOGLEBATCH_REGION
tag=$(sed -n 's/^googlebatch-container: .*boltz://p' profiles/googlebatch/config.yaml)
image=$region-docker.pkg.dev/$project/omtx-hub/boltz:$tag
run=smoke-$(date +%Y%m%d-%H%M%S)
prefix=gs://$OMTX_BUCKET/omtx-hub

echo "== 1. credentials, APIs, bucket, image"
gcloud auth application-default print-access-token >/dev/null
for api in batch.googleapis.com compute.googleapis.com logging.googleapis.com \
    storage.googleapis.com artifactregistry.googleapis.com; do
    gcloud services list --enabled --project "$project" --filter="config.name=$api" \
        --format='value(config.name)' | grep -q "$api" || { echo "API $api is not enabled" >&2; exit 1; }
done
gcloud storage buckets describe "gs://$OMTX_BUCKET" --format='value(name)' >/dev/null
gcloud artifacts docker images describe "$image" --format='value(image_summary.digest)' >/dev/null
check=".venv/bin/python scripts/gcp_smoke/check_setup.py"

echo "== 2. the jobs' service account and its roles (docs/google-batch.md, step 1b)"
sa=${SNAKEMAKE_GOOGLEBATCH_SERVICE_ACCOUNT:-$(gcloud projects describe "$project" \
    --format='value(projectNumber)')-compute@developer.gserviceaccount.com}
echo "service account: $sa"
{
    gcloud projects get-iam-policy "$project" --format=json
    gcloud storage buckets get-iam-policy "gs://$OMTX_BUCKET" --format=json
    gcloud artifacts repositories get-iam-policy omtx-hub --location "$region" \
        --project "$project" --format=json
} | $check roles "$sa"

echo "== 3. quotas in $region for the profile's shard VMs (docs/google-batch.md, step 1c)"
gcloud compute regions describe "$region" --project "$project" --format=json \
    | $check quotas "$(sed -n 's/^jobs: *//p' profiles/googlebatch/config.yaml)"

echo "== 4. the screen ($run) on Google Batch"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
git ls-files --error-unmatch scripts/gcp_smoke/ligands.csv >/dev/null
.venv/bin/snakemake --profile profiles/googlebatch --configfile scripts/gcp_smoke/screen.yaml \
    --config "store=$prefix/$run/store" "screen={name: $run}" \
    --jobs 1 "results/$run/summary.json" "results/$run/batch_results.csv"

echo "== 5. results in the bucket, the GPU the job saw, VM start-up"
gcloud storage cat "$prefix/results/$run/summary.json" | python3 -c '
import json, sys
summary = json.load(sys.stdin)
counts, gpu = summary["counts"], summary["gpu"]
assert counts["completed"] == 2, counts
assert summary["released_weights"], "the image should carry the released weights"
print("completed:", counts["completed"], "| Boltz s/target:", gpu["seconds_per_computed_target"],
      "| job s:", gpu["job_seconds"], "| cost incl. start-up: $%.4f" % gpu["cost_usd_with_startup"])
'
gcloud storage ls "$prefix/results/$run/structures/ABL1/00000/"
# Logged by the shard (omtx_hub.predict.cuda_environment): GPU, torch's CUDA, the driver.
gcloud storage cat "$prefix/logs/$run/boltz_predict_shard/ABL1/00000.log" | grep -m1 "GPU: "
job_wall_s=$(gcloud storage cat "$prefix/results/$run/shards/ABL1/00000.json" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["job_wall_s"])')
gcloud batch jobs list --location "$region" --project "$project" --format=json \
    --filter="labels.app=omtx-hub AND createTime>=$started" | $check startup "$job_wall_s"
echo "Smoke test passed. Put the measured s/target into cost.seconds_per_target and the"
echo "start-up into cost.startup_s_per_shard."
