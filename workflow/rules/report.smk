# The screen's offline HTML dashboard (omtx_report), built from the aggregated results and
# the exported structures; `snakemake --report` includes it under "Dashboard".
rule render_dashboard:
    input:
        summary=layout.SUMMARY,
        table=layout.TABLE,
        structures=for_each_shard(layout.SHARD_STRUCTURES),
    output:
        report(
            directory(layout.REPORT),
            htmlindex="index.html",
            category="Dashboard",
            caption="../report/dashboard.rst",
        ),
    log:
        layout.log_pattern("render_dashboard"),
    localrule: True
    params:
        top_n=SCREEN_CONFIG.report.top_n,
    script:
        "../scripts/render_report.py"
