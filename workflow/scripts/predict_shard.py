from pathlib import Path

from omtx_hub.chai1_shard import Chai1ShardJob
from omtx_hub.config import load_config
from omtx_hub.joblog import log_job_to
from omtx_hub.msa import chain_msas
from omtx_hub.plan_artifact import read_shard_spec
from omtx_hub.predict import ShardJob
from omtx_hub.store import open_store

log_job_to(snakemake.log[0])
# The shard's targets and keys come from the plan; the ligand sheet is not read (nor shipped).
spec = read_shard_spec(
    snakemake.input.spec,
    snakemake.input.plan,
    snakemake.wildcards.protein,
    snakemake.wildcards.shard,
)
config = load_config(snakemake.config)
receptor = config.protein(spec.protein).receptor
# The protein's engine's shard job (docs/engines.md): Boltz-2's, or Chai-1's runner in its own
# environment, with the settings its keys were made with.
model = config.model_of(spec.protein)
job = Chai1ShardJob if model.engine == "chai1" else ShardJob
job(
    spec=spec,
    receptor=receptor,
    msas=chain_msas(
        receptor, Path(snakemake.input.server_msas) if snakemake.input.server_msas else None
    ),
    model=model,
    runtime=config.runtime,
    store=open_store(config.store),
    structures_dir=Path(snakemake.output.structures),
    manifest=Path(snakemake.output.manifest),
    log_file=Path(snakemake.log[0]),
    gpu_attached=bool(snakemake.resources.get("nvidia_gpu")),
    attempt=snakemake.resources.get("attempt", 1),
    may_predict=snakemake.rule != "assemble_stored_shard",
).run()
