# The unit of GPU work: one shard = one `boltz predict` process over up to
# sharding.shard_size targets of one protein, model loaded once. Targets already in the
# result store are reused, never recomputed.
rule boltz_predict_shard:
    input:
        # Its targets and keys; rewritten only when they change, which reruns the shard.
        spec=shard_spec_file,
        # The plan's index, which the job checks its spec against; its time reruns nothing.
        plan=ancient(layout.PLAN),
        server_msas=server_msa_input,
        binder_msas=binder_msa_input,
        user_files=user_files,
        # With remote jobs: the canary's report, until which this shard is not submitted.
        canary=canary_input,
    output:
        manifest=layout.MANIFEST,
        structures=directory(layout.SHARD_STRUCTURES),
    log:
        layout.log_pattern("boltz_predict_shard", "protein", "shard"),
    benchmark:
        layout.benchmark_pattern("boltz_predict_shard", "protein", "shard")
    retries: SHARD_RETRIES
    threads: 4
    resources:
        mem_mb=predict_mem_mb,
        gpu=1,
        attempt=job_attempt,
        # On Google Batch: the protein's engine's image (a Chai-1 protein's shards run in
        # containers/chai1).
        googlebatch_container=shard_container,
    params:
        # Not read by the script: a failure worth retrying recorded since the manifest was
        # written changes it, and the shard runs again for it.
        failures=shard_failures,
    script:
        "../scripts/predict_shard.py"


# On Google Batch (a run with a default storage provider), a shard whose every target is
# already in the result store (a second screen of the same compounds, a sheet edited or
# reordered in the middle) needs no GPU: the main process assembles its manifest and
# structures from the store instead of starting a VM that would only copy them
# (omtx_hub.routing).
use rule boltz_predict_shard as assemble_stored_shard with:
    wildcard_constraints:
        shard=stored_shard_constraint(sorted(stored_shards())),
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,


ruleorder: assemble_stored_shard > boltz_predict_shard


# With remote jobs (Google Batch), the first shard with targets to predict runs alone: the
# canary (omtx_hub.canary). Its report, made here from its manifest on the planning
# machine, prints what it saw and measured and the other shards' cost estimated again with
# it, checked against cost.budget_usd; the other shards wait for the report (canary_input).
rule canary:
    input:
        manifest=layout.MANIFEST,
    output:
        report=layout.CANARY,
    log:
        layout.log_pattern("canary", "protein", "shard"),
    localrule: True
    params:
        pending_after=pending_after_canary,
        targets=lambda wildcards: PLAN.target_count,
        attempts=1 + SHARD_RETRIES,
        # Known once the run has started (check_vm_side_before_start).
        image_digest=planned_image_digest,
    script:
        "../scripts/canary.py"
