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
    params:
        # Not read by the script (it validates the whole config); a changed ranking, binder
        # threshold or top_n makes Snakemake rerun the aggregation (and the dashboard).
        report=SCREEN_CONFIG.report.model_dump(mode="json"),
    script:
        "../scripts/aggregate_screen.py"
