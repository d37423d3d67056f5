# The screen's offline HTML dashboard (omtx_report), built from the aggregated results and
# the exported structures; `snakemake --report` includes it under "Dashboard".
rule render_dashboard:
    input:
        summary="results/{screen}/summary.json",
        table="results/{screen}/batch_results.csv",
        structures=[
            f"results/{SCREEN}/structures/{protein}/{shard}"
            for protein, shard in PLAN.shards
        ],
    output:
        report(
            directory("results/{screen}/report"),
            htmlindex="index.html",
            category="Dashboard",
            caption="../report/dashboard.rst",
        ),
    log:
        "logs/{screen}/render_dashboard.log",
    localrule: True
    params:
        top_n=SCREEN_CONFIG.report.top_n,
    script:
        "../scripts/render_report.py"
