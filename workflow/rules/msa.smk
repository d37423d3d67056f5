rule fetch_msa:
    output:
        directory(layout.MSA),
    log:
        layout.log_pattern("fetch_msa", "protein"),
    retries: 2
    localrule: True
    params:
        sequences=server_msa_sequences,
        server_url=SCREEN_CONFIG.runtime.msa_server_url,
        pairing_strategy=SCREEN_CONFIG.runtime.msa_pairing_strategy,
    script:
        "../scripts/fetch_msa.py"
