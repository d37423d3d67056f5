"""Where a screen's files go, named once for the rules, the library and the dashboards.

    results/{screen}/
        plan/plan.json                                the plan's index (omtx_hub.plan_artifact)
        plan/shards/{protein}/{shard}.json            a shard's spec: its targets and keys
        summary.json                                  aggregate_screen
        batch_results.csv                             aggregate_screen
        batch_results.parquet                         aggregate_screen (the same table)
        selectivity.csv                               aggregate_screen (a `selectivity` panel)
        interactions.csv                              aggregate_screen (every pose's interactions)
        purchase_list.csv                             aggregate_screen (`triage` rules)
        shards/{protein}/{shard}.json                 boltz_predict_shard (shard manifest)
        structures/{protein}/{shard}/{screen}_{protein}_{index}_{ligand_id}.cif
                                                      boltz_predict_shard (best model)
        msa/{protein}/{chain}.csv                     fetch_msa (msa: server; one per chain)
        msa/{protein}.json                            fetch_msa: its record (query, sha256)
        binder_msa/{batch}.json                       fetch_binder_msas: the server MSAs
                                                      (query, sha256) of the binders of
                                                      the shards numbered {batch}
        benchmarks/boltz_predict_shard/{protein}/{shard}.tsv
        report/index.html                             render_dashboard
        progress/index.html                           omtx-report progress
    logs/{screen}/{rule}[/{protein}[/{shard}]].log    one log per job

The result store (`store:` in the config, results/store by default) is laid out by
`omtx_hub.store`.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results"
LOGS = "logs"

# Inside results/{screen}/.
SUMMARY_FILE = "summary.json"
TABLE_FILE = "batch_results.csv"
PARQUET_TABLE_FILE = "batch_results.parquet"
SELECTIVITY_FILE = "selectivity.csv"
INTERACTIONS_FILE = "interactions.csv"
PURCHASE_LIST_FILE = "purchase_list.csv"
SHARDS_DIR = "shards"
MANIFEST_FILE = "shards/{protein}/{shard}.json"
STRUCTURES_DIR = "structures"
SHARD_STRUCTURES_DIR = "structures/{protein}/{shard}"
# One csv per `msa: server` chain, named by the chain entry's first id, and the MSA's record.
MSA_DIR = "msa/{protein}"
MSA_RECORD_FILE = "msa/{protein}.json"
# The record of a binder screen's `msa: server` binders of one batch: the shards whose names
# start with its number (every protein's, every replicate's), which screen the same binders.
BINDER_MSA_RECORD_FILE = "binder_msa/{batch}.json"
REPORT_DIR = "report"
# The plan (omtx_hub.plan_artifact), written by the process that plans a run.
PLAN_INDEX_FILE = "plan/plan.json"
SHARD_SPEC_FILE = "plan/shards/{protein}/{shard}.json"
PROGRESS_DIR = "progress"
CANARY_DIR = "canary"
CANARY_FILE = "canary/{protein}/{shard}.json"


# A screen's results directory, relative to the directory snakemake runs in.
SCREEN_DIR = f"{RESULTS}/{{screen}}"


def screen_pattern(relative: str) -> str:
    """A Snakemake file pattern under results/{screen}/."""
    return f"{SCREEN_DIR}/{relative}"


def _per_job(root: str, rule: str, wildcards: tuple[str, ...], suffix: str) -> str:
    return "/".join([root, rule, *(f"{{{name}}}" for name in wildcards)]) + suffix


def log_pattern(rule: str, *wildcards: str) -> str:
    """The log of one job of `rule`: logs/{screen}/<rule>[/{wildcard}...].log."""
    return _per_job(f"{LOGS}/{{screen}}", rule, wildcards, ".log")


def benchmark_pattern(rule: str, *wildcards: str) -> str:
    """The benchmark of one job: results/{screen}/benchmarks/<rule>/{wildcard}....tsv."""
    return _per_job(screen_pattern("benchmarks"), rule, wildcards, ".tsv")


# The Snakemake file patterns of the rules' outputs.
SUMMARY = screen_pattern(SUMMARY_FILE)
TABLE = screen_pattern(TABLE_FILE)
PARQUET_TABLE = screen_pattern(PARQUET_TABLE_FILE)
SELECTIVITY = screen_pattern(SELECTIVITY_FILE)
INTERACTIONS = screen_pattern(INTERACTIONS_FILE)
PURCHASE_LIST = screen_pattern(PURCHASE_LIST_FILE)
MANIFEST = screen_pattern(MANIFEST_FILE)
SHARD_STRUCTURES = screen_pattern(SHARD_STRUCTURES_DIR)
MSA = screen_pattern(MSA_DIR)
MSA_RECORD = screen_pattern(MSA_RECORD_FILE)
BINDER_MSA_RECORD = screen_pattern(BINDER_MSA_RECORD_FILE)
REPORT = screen_pattern(REPORT_DIR)
PLAN = screen_pattern(PLAN_INDEX_FILE)
SHARD_SPEC = screen_pattern(SHARD_SPEC_FILE)
CANARY = screen_pattern(CANARY_FILE)


def structure_file_name(screen: str, protein: str, index: int, ligand_id: str) -> str:
    """A structure's download name: it says which screen, protein and sheet row it is."""
    return f"{screen}_{protein}_{index}_{ligand_id}.cif"


class ScreenLayout:
    """The files of one screen's results directory."""

    def __init__(self, screen_dir: str | Path):
        self.screen_dir = Path(screen_dir)

    @classmethod
    def of(cls, results_root: str | Path, screen: str) -> ScreenLayout:
        return cls(Path(results_root) / screen)

    @property
    def summary(self) -> Path:
        return self.screen_dir / SUMMARY_FILE

    @property
    def table(self) -> Path:
        return self.screen_dir / TABLE_FILE

    @property
    def parquet_table(self) -> Path:
        return self.screen_dir / PARQUET_TABLE_FILE

    @property
    def selectivity(self) -> Path:
        return self.screen_dir / SELECTIVITY_FILE

    @property
    def interactions(self) -> Path:
        return self.screen_dir / INTERACTIONS_FILE

    @property
    def purchase_list(self) -> Path:
        return self.screen_dir / PURCHASE_LIST_FILE

    @property
    def shards(self) -> Path:
        return self.screen_dir / SHARDS_DIR

    @property
    def plan(self) -> Path:
        return self.screen_dir / PLAN_INDEX_FILE

    def shard_spec(self, protein: str, shard: str) -> Path:
        return self.screen_dir / SHARD_SPEC_FILE.format(protein=protein, shard=shard)

    @property
    def report(self) -> Path:
        return self.screen_dir / REPORT_DIR

    @property
    def progress(self) -> Path:
        return self.screen_dir / PROGRESS_DIR

    def msa(self, protein: str) -> Path:
        """The server MSAs (one csv per chain) this screen's fetch_msa job wrote for
        `protein`."""
        return self.screen_dir / MSA_DIR.format(protein=protein)

    def msa_record(self, protein: str) -> Path:
        """The record of the server MSA this screen's fetch_msa job wrote for `protein`."""
        return self.screen_dir / MSA_RECORD_FILE.format(protein=protein)

    def binder_msa_record(self, batch: str) -> Path:
        """The record of the binders' server MSAs this screen's fetch_binder_msas job wrote for
        the shards numbered `batch`."""
        return self.screen_dir / BINDER_MSA_RECORD_FILE.format(batch=batch)

    def manifest(self, protein: str, shard: str) -> Path:
        return self.screen_dir / MANIFEST_FILE.format(protein=protein, shard=shard)

    def manifests(self) -> list[Path]:
        """Every shard manifest written so far, in protein and shard order."""
        return sorted(self.shards.glob("*/*.json"))

    def structures(self, protein: str, shard: str) -> Path:
        return self.screen_dir / SHARD_STRUCTURES_DIR.format(protein=protein, shard=shard)

    def structure_files(self) -> list[Path]:
        """Every exported structure, in protein, shard and name order."""
        return sorted((self.screen_dir / STRUCTURES_DIR).glob("*/*/*.cif"))

    def structure_folders(self) -> list[Path]:
        """Every shard's structures folder (structures/<protein>/<shard>), in protein and
        shard order."""
        return sorted(p for p in (self.screen_dir / STRUCTURES_DIR).glob("*/*") if p.is_dir())
