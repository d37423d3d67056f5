rule aggregate_screen:
    input:
        sheet=local(SCREEN_CONFIG.ligands),
        manifests=shard_manifests(),
    output:
        summary=report(
            "results/{screen}/summary.json",
            caption="../report/summary.rst",
            category="Results",
        ),
        table=report(
            "results/{screen}/batch_results.csv",
            caption="../report/batch_results.rst",
            category="Results",
        ),
    log:
        "logs/{screen}/aggregate_screen.log",
    localrule: True
    script:
        "../scripts/aggregate_screen.py"
