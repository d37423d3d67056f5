rule aggregate_screen:
    input:
        # What was planned (the validated sheet it names included): a new plan aggregates anew.
        plan=layout.PLAN,
        manifests=for_each_shard(layout.MANIFEST),
        # The `consensus` pairs' exported structures, compared (none without pairs).
        structures=consensus_structures,
    output:
        **selectivity_output(),
        **purchase_list_output(),
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
        # The same table, typed, for pandas, polars and DuckDB (docs/results.md).
        parquet_table=layout.PARQUET_TABLE,
        # Every checked pose's interactions with its receptor (docs/results.md).
        interactions=layout.INTERACTIONS,
    log:
        layout.log_pattern("aggregate_screen"),
    localrule: True
    params:
        # Not read by the script (it validates the whole config); a changed ranking, binder
        # threshold, top_n, selectivity panel or triage rules makes Snakemake rerun the aggregation (and
        # the dashboard).
        report=SCREEN_CONFIG.report.model_dump(mode="json"),
        triage=SCREEN_CONFIG.triage and SCREEN_CONFIG.triage.model_dump(mode="json"),
        selectivity=(
            SCREEN_CONFIG.selectivity
            and SCREEN_CONFIG.selectivity.model_dump(mode="json")
        ),
        consensus=[pair.model_dump(mode="json") for pair in SCREEN_CONFIG.consensus],
    script:
        "../scripts/aggregate_screen.py"
