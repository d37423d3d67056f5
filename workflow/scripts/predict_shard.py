from pathlib import Path

from omtx_hub.config import load_config
from omtx_hub.joblog import log_job_to
from omtx_hub.msa import chain_msas
from omtx_hub.predict import ShardJob
from omtx_hub.records import Weights
from omtx_hub.store import open_store

log_job_to(snakemake.log[0])
# The shard's targets come in params; the ligand sheet is not read (nor shipped).
config = load_config(snakemake.config, sheet_file_needed=False)
receptor = next(p for p in config.proteins if p.name == snakemake.wildcards.protein).receptor
ShardJob(
    screen=snakemake.wildcards.screen,
    protein=snakemake.wildcards.protein,
    shard=snakemake.wildcards.shard,
    receptor=receptor,
    msas=chain_msas(
        receptor, Path(snakemake.input.server_msas) if snakemake.input.server_msas else None
    ),
    msa_identities=snakemake.params.msa_identities,
    targets=snakemake.params.targets,
    model=config.model,
    runtime=config.runtime,
    spec=snakemake.params.spec,
    weights=Weights.model_validate(snakemake.params.weights),
    store=open_store(config.store),
    structures_dir=Path(snakemake.output.structures),
    manifest=Path(snakemake.output.manifest),
    log_file=Path(snakemake.log[0]),
    gpu_attached=bool(snakemake.resources.get("nvidia_gpu")),
    attempt=snakemake.resources.get("attempt", 1),
).run()
