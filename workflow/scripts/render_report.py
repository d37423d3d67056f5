from pathlib import Path

from omtx_hub.joblog import log_job_to
from omtx_report.data import load_finished_screen
from omtx_report.render import render_dashboard

log_job_to(snakemake.log[0])
render_dashboard(
    load_finished_screen(Path(snakemake.input.summary).parent),
    snakemake.output[0],
    top_n=snakemake.params.top_n,
)
