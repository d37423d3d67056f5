from pathlib import Path

from omtx_hub.aggregate import write_results
from omtx_hub.config import load_config
from omtx_hub.joblog import log_job_to
from omtx_hub.plan import PlannedScreen
from omtx_hub.screen_consensus import structure_paths
from omtx_hub.store import open_store

log_job_to(snakemake.log[0])
config = load_config(snakemake.config)
store = open_store(config.store)
write_results(
    PlannedScreen.read(config, snakemake.input.plan, store),
    snakemake.input.manifests,
    csv_path=Path(snakemake.output.table),
    parquet_path=Path(snakemake.output.parquet_table),
    interactions_path=Path(snakemake.output.interactions),
    summary_path=Path(snakemake.output.summary),
    selectivity_path=Path(snakemake.output.selectivity) if config.selectivity else None,
    store=store,
    purchase_list_path=Path(snakemake.output.purchase_list) if config.triage else None,
    structures=structure_paths(snakemake.input.structures),
)
