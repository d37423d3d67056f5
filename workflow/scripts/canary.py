import logging
from pathlib import Path

from omtx_hub.canary import canary_report, check_fan_out, describe
from omtx_hub.config import load_config
from omtx_hub.joblog import log_job_to
from omtx_hub.records import read_manifest, write_canary

log_job_to(snakemake.log[0])
config = load_config(snakemake.config)
manifest = read_manifest(snakemake.input.manifest)
report = canary_report(
    manifest,
    config.engine_of(manifest.protein),
    # The other shards' pending targets, from the planning process.
    pending_after=snakemake.params.pending_after,
    targets=snakemake.params.targets,
    cost=config.cost,
    attempts=snakemake.params.attempts,
    image_digest=snakemake.params.image_digest,
)
# In the job's log, and on the terminal of the run.
logging.info("%s", describe(report))
print(describe(report), flush=True)
check_fan_out(report, config.cost)
write_canary(report, Path(snakemake.output.report))
