"""The catalog's conventions: the .test/ screen plans and lints, and the workflow works as a
Snakemake `module` deployed from another directory (as `snakedeploy deploy-workflow` users
consume it)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.screens import SNAKEFILE, planned_jobs, run_snakemake

# Two proteins x four ligands in shards of two; one aggregate, one dashboard, `all`.
JOBS = {"boltz_predict_shard": 4, "aggregate_screen": 1, "render_dashboard": 1, "all": 1}


def copy_of_test_screen(repo: Path, destination: Path) -> Path:
    """.test/ copied out, so that planning writes nothing into the checkout."""
    return Path(shutil.copytree(repo / ".test", destination))


def test_test_screen_dry_runs_and_lints(repo, tmp_path):
    workdir = copy_of_test_screen(repo, tmp_path / ".test")
    planned = run_snakemake(workdir, "-n").stdout
    assert planned_jobs(planned).items() >= {**JOBS, "total": 7}.items()
    assert "results/catalog-test/shards/P2/00001.json" in planned
    lint = run_snakemake(workdir, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in lint.stdout + lint.stderr


def test_workflow_deploys_as_a_module(repo, tmp_path):
    workdir = copy_of_test_screen(repo, tmp_path / "deployed")
    deploying = workdir / "Snakefile"
    deploying.write_text(
        'configfile: "config/config.yaml"\n\n\n'
        "module omtx:\n"
        f'    snakefile:\n        "{SNAKEFILE}"\n'
        "    config:\n        config\n\n\n"
        "use rule * from omtx\n"
    )
    planned = run_snakemake(workdir, "-n", snakefile=deploying).stdout
    assert planned_jobs(planned).items() >= {**JOBS, "total": 7}.items()
    assert "results/catalog-test/report" in planned
