from pathlib import Path

from omtx_hub.credentials import MsaCredentials
from omtx_hub.joblog import log_job_to
from omtx_hub.msa import fetch_server_msa

log_job_to(snakemake.log[0])
fetch_server_msa(
    snakemake.wildcards.protein,
    snakemake.params.sequences,
    Path(snakemake.output[0]),
    server_url=snakemake.params.server_url,
    pairing_strategy=snakemake.params.pairing_strategy,
    # Read here, not passed as params: Snakemake stores params in .snakemake/metadata.
    credentials=MsaCredentials.from_environment(),
)
