from pathlib import Path

from omtx_hub.aggregate import write_results
from omtx_hub.config import load_config
from omtx_hub.joblog import log_job_to
from omtx_hub.plan import PlannedScreen
from omtx_hub.store import open_store

log_job_to(snakemake.log[0])
config = load_config(snakemake.config)
write_results(
    PlannedScreen.read(config, snakemake.input.plan, open_store(config.store)),
    snakemake.input.manifests,
    csv_path=Path(snakemake.output.table),
    parquet_path=Path(snakemake.output.parquet_table),
    interactions_path=Path(snakemake.output.interactions),
    summary_path=Path(snakemake.output.summary),
    selectivity_path=Path(snakemake.output.selectivity) if config.selectivity else None,
)
