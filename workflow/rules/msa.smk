rule fetch_msa:
    output:
        "results/{screen}/msa/{protein}.csv",
    log:
        "logs/{screen}/fetch_msa/{protein}.log",
    retries: 2
    localrule: True
    params:
        sequence=protein_sequence,
        server_url=SCREEN_CONFIG.runtime.msa_server_url,
        pairing_strategy=SCREEN_CONFIG.runtime.msa_pairing_strategy,
    script:
        "../scripts/fetch_msa.py"
