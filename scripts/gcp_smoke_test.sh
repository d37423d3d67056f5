#!/usr/bin/env bash
# One-time check of a Google Batch setup (docs/google-batch.md): runs a 2-ligand screen on
# one Spot L4 VM with profiles/googlebatch and checks its results in the bucket. Costs a few
# cents; takes ~10-15 minutes, most of it VM start-up and the image pull.
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
gcloud compute regions describe "$region" --project "$project" --format=json \
    | python3 -c 'import json,sys; q=[x for x in json.load(sys.stdin)["quotas"] if x["metric"]=="PREEMPTIBLE_NVIDIA_L4_GPUS"]; print("Spot/preemptible L4 quota:", q[0]["limit"] if q else "none"); sys.exit(0 if q and q[0]["limit"]>=1 else 1)'

echo "== 2. the screen ($run) on Google Batch"
git ls-files --error-unmatch scripts/gcp_smoke/ligands.csv >/dev/null
snakemake --profile profiles/googlebatch --configfile scripts/gcp_smoke/screen.yaml \
    --config "store=$prefix/$run/store" "screen={name: $run}" \
    --jobs 1 "results/$run/summary.json" "results/$run/batch_results.csv"

echo "== 3. results in the bucket"
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
echo "Smoke test passed. Put the measured s/target into cost.seconds_per_target."
