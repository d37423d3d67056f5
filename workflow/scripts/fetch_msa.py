from pathlib import Path

from omtx_hub.config import load_config
from omtx_hub.credentials import MsaCredentials
from omtx_hub.joblog import log_job_to
from omtx_hub.msa_server import write_server_msas
from omtx_hub.store import open_store

log_job_to(snakemake.log[0])
config = load_config(snakemake.config)
chains = snakemake.params.sequences  # first chain id -> sequence, in the receptor's order
write_server_msas(
    open_store(config.store),
    list(chains.values()),
    [Path(snakemake.output.msas) / f"{chain}.csv" for chain in chains],
    Path(snakemake.output.record),
    server_url=snakemake.params.server_url,
    pairing_strategy=snakemake.params.pairing_strategy,
    refresh=snakemake.params.refresh,
    # From the config, not params: a changed time limit changes no MSA.
    timeout_s=config.runtime.msa_timeout_s,
    owner=f"protein '{snakemake.wildcards.protein}'",
    # Read here, not passed as params: Snakemake stores params in .snakemake/metadata.
    credentials=MsaCredentials.from_environment(),
)
