rule aggregate_screen:
    input:
        sheet=local(SCREEN_CONFIG.ligands.sheet),
        manifests=for_each_shard(layout.MANIFEST),
    output:
        summary=report(
            layout.SUMMARY,
            caption="../report/summary.rst",
            category="Results",
        ),
        table=report(
            layout.TABLE,
            caption="../report/batch_results.rst",
            category="Results",
        ),
    log:
        layout.log_pattern("aggregate_screen"),
    localrule: True
    script:
        "../scripts/aggregate_screen.py"
