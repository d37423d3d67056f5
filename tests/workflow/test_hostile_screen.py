"""A hostile screen on the real workflow (Boltz with the test model), with dummy secrets in
its environment: sheet names built to escape results/ or run commands, an MSA server that
needs an API key (tests/msa_server.py on 127.0.0.1) and a completion webhook whose URL
carries a token. Nothing is written outside the run's directories, no command runs, the names
are data everywhere (structure files, table, dashboard), the key reaches the MSA server and
no secret is in any file, log or output (docs/reliability.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings,
    DAGSettings,
    OutputSettings,
    ResourceSettings,
)

from omtx_hub import layout
from omtx_hub.testing.msa_server import fake_msa_server
from omtx_report.data import read_table
from tests.dashboard_pages import page_and_pieces
from tests.hostile import HOSTILE_NAMES, SAFE_ID, hostile_sheet
from tests.leaks import files_holding, files_under
from tests.notify_server import webhook_receiver
from tests.screens import (
    FAST_MODEL,
    SHORT_PROTEIN,
    SNAKEFILE,
    runtime,
    snakemake_command,
    snakemake_env,
    write_config_file,
)

pytestmark = pytest.mark.boltz

API_KEY = "msa-key-DUMMY-5b9e2c"
NOTIFY_TOKEN = "hook-token-DUMMY-0d41"
SECRETS = [API_KEY, NOTIFY_TOKEN]
# Two compounds, so the shard predicts two targets and every name is an alias of one.
SMILES = ["CC(=O)Oc1ccccc1C(=O)O", "CCO"]
# What a run may create in its directory: its results, logs, metadata and store (and what
# the programs it runs keep in $HOME, a directory of its own here).
RUN_DIRECTORIES = {"results", "logs", ".snakemake", "store", "home"}


@pytest.fixture(scope="module")
def hostile_screen(tmp_path_factory, boltz_test_cache):
    root = tmp_path_factory.mktemp("hostile")
    workdir = root / "run"
    home = workdir / "home"  # `rm -rf ~` run by any shell would empty it
    home.mkdir(parents=True)
    (home / "canary").write_text("still here")
    (workdir / "ligands.csv").write_bytes(hostile_sheet(SMILES))
    with fake_msa_server() as server, webhook_receiver() as (hook, notices):
        raw = {
            "screen": {"name": "s1"},
            "proteins": [{"name": "P1", "sequence": SHORT_PROTEIN, "msa": "server"}],
            "ligands": "ligands.csv",
            "sharding": {"shard_size": 2},
            "model": FAST_MODEL,
            "runtime": runtime(boltz_test_cache) | {"msa_server_url": server.url},
            "store": "store",
        }
        config = write_config_file(workdir, raw)
        before = set(root.rglob("*"))
        environment = snakemake_env() | {
            "HOME": str(home),
            "OMTX_MSA_API_KEY": API_KEY,
            "OMTX_MSA_API_KEY_HEADER": "X-Omtx-Test-Key",
            "OMTX_NOTIFY_URL": f"{hook}?token={NOTIFY_TOKEN}",
        }
        run = subprocess.run(
            snakemake_command(workdir, "--configfile", str(config)),
            cwd=workdir,
            env=environment,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-6000:]
    return {
        "root": root,
        "workdir": workdir,
        "config": config,
        "created": set(root.rglob("*")) - before,
        "output": run.stdout + run.stderr,
        "msa_requests": server.requests,
        "msa_hit": server.hits(SHORT_PROTEIN)[0],
        "notices": notices,
    }


def test_the_msa_server_got_the_key_in_its_header(hostile_screen):
    requests = hostile_screen["msa_requests"]
    assert [r["method"] for r in requests] == ["POST", "GET"]  # submit, download
    assert all(r["headers"]["X-Omtx-Test-Key"] == API_KEY for r in requests)
    msa = (hostile_screen["workdir"] / "results/s1/msa/P1/A.csv").read_text()
    assert f"-1,{hostile_screen['msa_hit']}" in msa.splitlines()


def test_no_secret_is_in_any_file_log_or_output(hostile_screen):
    workdir = hostile_screen["workdir"]
    files = files_under(workdir)
    # The places that must have been looked at exist: logs, records, summary, dashboard.
    for expected in (
        "logs/s1/fetch_msa/P1.log",
        "logs/s1/boltz_predict_shard/P1/00000.log",
        "results/s1/summary.json",
        "results/s1/batch_results.csv",
        "results/s1/report/index.html",
        "results/s1/shards/P1/00000.json",
    ):
        assert expected in files
    assert any(name.endswith("record.json") for name in files)
    assert any(name.startswith(".snakemake/metadata/") for name in files)
    files["snakemake's output"] = hostile_screen["output"].encode()
    files["the completion notice"] = json.dumps(hostile_screen["notices"]).encode()
    assert files_holding(SECRETS, files) == {}
    # The notice did go out, to the URL with its token.
    assert [n["body"]["status"] for n in hostile_screen["notices"]] == ["succeeded"]


def test_nothing_is_written_outside_the_runs_directories_and_no_command_ran(hostile_screen):
    workdir = hostile_screen["workdir"]
    created = hostile_screen["created"]
    for path in created:
        relative = path.relative_to(workdir)  # (raises for a path outside the run)
        assert relative.parts[0] in RUN_DIRECTORIES, relative
    assert (workdir / "home/canary").read_text() == "still here"
    everything = {p.name for p in hostile_screen["root"].rglob("*")}
    assert "pwned" not in everything and not Path("pwned").exists()


def test_every_name_is_data_in_the_results(hostile_screen):
    screen_dir = hostile_screen["workdir"] / "results/s1"
    table = pd.read_csv(screen_dir / "batch_results.csv", keep_default_na=False)
    # As written: '-rf' would be a formula in a spreadsheet, so it is written as text.
    written = {"-rf": "'-rf"}
    assert sorted(table["ligand_name"]) == sorted(written.get(n, n) for n in HOSTILE_NAMES)
    # As the dashboard reads it back: the names as the sheet has them.
    assert sorted(read_table(screen_dir / "batch_results.csv")["ligand_name"]) == sorted(
        HOSTILE_NAMES
    )
    assert (table["status"] == "completed").all()
    structures = screen_dir / "structures/P1/00000"
    for row in table.itertuples():
        assert SAFE_ID.fullmatch(row.ligand_id)
        assert row.structure == layout.structure_file_name("s1", "P1", row.index, row.ligand_id)
        assert (structures / row.structure).stat().st_size > 0
    assert sorted(p.name for p in structures.glob("*.cif")) == sorted(table["structure"])


def test_the_dashboard_shows_the_names_escaped(hostile_screen):
    page = page_and_pieces(hostile_screen["workdir"] / "results/s1/report/index.html")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the top hits, as text
    assert "\\u003cscript\\u003ealert(1)" in page  # the table's data pieces, scripts
    # Shown inline, a name is isolated: a right-to-left override reorders only itself.
    assert "<bdi>\u202egpj.exe</bdi>" in page


def test_no_job_runs_a_shell_command_and_every_job_path_is_the_screens(hostile_screen):
    """Every job of the screen's DAG (all of them, as if nothing were done) runs a script:
    sheet text can reach no shell. Their files and wildcards are the screen's own."""
    workdir = hostile_screen["workdir"]
    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow_api = api.workflow(
            snakefile=SNAKEFILE,
            workdir=workdir,
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[hostile_screen["config"]]),
        )
        workflow_api.dag(DAGSettings(forceall=True))
        workflow = workflow_api._workflow  # the parsed workflow (Snakemake has no public DAG)
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        jobs = list(workflow.dag.jobs)
    assert {job.rule.name for job in jobs} == {
        "all",
        "fetch_msa",
        "boltz_predict_shard",
        "aggregate_screen",
        "render_dashboard",
    }
    sheet_text = [*HOSTILE_NAMES, *SMILES]
    for job in jobs:
        assert not job.is_shell, job.rule.name
        assert job.is_script or job.rule.name == "all", job.rule.name
        for path in [*job.output, *job.log]:
            assert Path(path).parts[:2] in (("results", "s1"), ("logs", "s1")), path
        assert set(job.wildcards_dict.values()) <= {"s1", "P1", "00000"}
        described = " ".join(map(str, [*job.input, *job.output, *job.log, job.wildcards_dict]))
        assert not any(text in described for text in sheet_text), job.rule.name
