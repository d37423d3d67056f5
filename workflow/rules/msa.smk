# The server MSA of a receptor's `msa: server` chains (one query, one csv per chain), a
# checkpoint: its content is part of the keys of the receptor's targets, which are known only
# once it is there. Taken from the result store when an earlier screen fetched it; otherwise
# (or when runtime.msa_refresh is switched on) asked from the server and stored there for
# every later screen. The record says which query
# the MSA answers and its sha256: this screen keeps using it even if another screen later
# refreshes the store's copy. A failing server is retried by the job itself, within
# runtime.msa_timeout_s (omtx_hub/msa.py), so Snakemake does not run it again: a retry would
# start the whole time over.
checkpoint fetch_msa:
    output:
        msas=directory(layout.MSA),
        record=layout.MSA_RECORD,
    log:
        layout.log_pattern("fetch_msa", "protein"),
    retries: 0
    localrule: True
    params:
        sequences=server_msa_sequences,
        server_url=SCREEN_CONFIG.runtime.msa_server_url,
        pairing_strategy=SCREEN_CONFIG.runtime.msa_pairing_strategy,
        refresh=SCREEN_CONFIG.runtime.msa_refresh,
    script:
        "../scripts/fetch_msa.py"


# The server MSAs of a binder screen's `msa: server` binders, a checkpoint for the same reason:
# one per batch, the binders of the shards whose names start with its number (every
# protein's, every replicate's screens the same binders). Each distinct binder sequence is a
# query of its own (omtx_hub.binders), taken from the result store when an earlier screen (or
# a receptor chain of that sequence) fetched it; its record says which MSA the screen keyed
# the binders' targets with. The shard job reads each binder's MSA from the store, checked
# against its key. A failing server fails this batch's shards only; the job stops at the
# first binder the server fails, within runtime.msa_timeout_s (omtx_hub.msa_server).
checkpoint fetch_binder_msas:
    output:
        record=layout.BINDER_MSA_RECORD,
    log:
        layout.log_pattern("fetch_binder_msas", "batch"),
    retries: 0
    localrule: True
    params:
        binders=binder_msa_queries,
        server_url=SCREEN_CONFIG.runtime.msa_server_url,
        pairing_strategy=SCREEN_CONFIG.runtime.msa_pairing_strategy,
        refresh=SCREEN_CONFIG.runtime.msa_refresh,
    script:
        "../scripts/fetch_binder_msas.py"
