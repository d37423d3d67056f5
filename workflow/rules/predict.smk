# The unit of GPU work: one shard = one `boltz predict` process over up to
# sharding.shard_size targets of one protein, model loaded once. Targets already in the
# result store are reused, never recomputed.
rule boltz_predict_shard:
    input:
        msa=msa_input,
    output:
        manifest="results/{screen}/shards/{protein}/{shard}.json",
        structures=directory("results/{screen}/structures/{protein}/{shard}"),
    log:
        "logs/{screen}/boltz_predict_shard/{protein}/{shard}.log",
    benchmark:
        "results/{screen}/benchmarks/boltz_predict_shard/{protein}/{shard}.tsv"
    retries: 2
    threads: 4
    resources:
        mem_mb=predict_mem_mb,
        gpu=1,
    params:
        targets=shard_targets,
        sequence=protein_sequence,
        spec=PLAN.spec,
        weights=PLAN.weights.__dict__,
    script:
        "../scripts/predict_shard.py"
