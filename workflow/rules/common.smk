# Validation and planning, done once at parse time and before any job runs: a bad config
# or ligand sheet stops here with a message naming the key, line or column.
from snakemake.exceptions import WorkflowError

from omtx_hub.config import ConfigError, load_config
from omtx_hub.plan import build_plan
from omtx_hub.sheet import SheetError
from omtx_hub.store import open_store

try:
    SCREEN_CONFIG = load_config(config)
    STORE = open_store(SCREEN_CONFIG.store)
    PLAN = build_plan(SCREEN_CONFIG, STORE)
except (ConfigError, SheetError) as error:
    raise WorkflowError(str(error)) from None

SCREEN = SCREEN_CONFIG.screen.name
PROTEINS = {protein.name: protein for protein in SCREEN_CONFIG.proteins}


wildcard_constraints:
    screen=SCREEN,
    protein="|".join(PROTEINS),
    shard=r"\d{5}",


def shard_manifests():
    return [
        f"results/{SCREEN}/shards/{protein}/{shard}.json"
        for protein, shard in PLAN.shards
    ]


def final_outputs():
    return [f"results/{SCREEN}/summary.json", f"results/{SCREEN}/batch_results.csv"]


def msa_input(wildcards):
    """The MSA file a shard reads: none for single-sequence mode, the server MSA the
    fetch_msa rule computes once per protein, or the user's file."""
    msa = PROTEINS[wildcards.protein].msa
    if msa == "empty":
        return []
    if msa == "server":
        return f"results/{SCREEN}/msa/{wildcards.protein}.csv"
    return msa


def shard_targets(wildcards):
    return list(PLAN.shard(wildcards.protein, wildcards.shard).targets)


def protein_sequence(wildcards):
    return PROTEINS[wildcards.protein].sequence


def predict_mem_mb(wildcards, attempt):
    """Host memory for a shard; grows with each retry after an out-of-memory kill."""
    return 16000 * attempt
