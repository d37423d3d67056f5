"""Hostile input stopped by `snakemake` itself, before any job: what the user sees."""

from __future__ import annotations

import subprocess

import pytest

from tests.hostile import HOSTILE_NAMES, hostile_sheet
from tests.hostile_yaml import alias_bomb
from tests.screens import (
    planned_jobs,
    run_snakemake,
    snakemake_command,
    snakemake_env,
    write_config_file,
    write_screen,
)

SECRET = "pw-DUMMY-4c2a"


def refused_plan(workdir, *configs, environment=None) -> str:
    """The output of a `snakemake -n --configfile configs...` that fails at parse time
    (within 5 minutes: a hang is a failure)."""
    result = subprocess.run(
        snakemake_command(workdir, "-n", "--configfile", *map(str, configs)),
        capture_output=True,
        text=True,
        env=snakemake_env() | (environment or {}),
        timeout=300,
    )
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_a_bad_sheet_stops_the_plan_naming_its_line(tmp_path):
    raw = write_screen(tmp_path, rows=[("ok", "CCO"), ("bad\x1b[2J", "CCO")])
    output = refused_plan(tmp_path, write_config_file(tmp_path, raw))
    assert "line 3 (name 'bad\\x1b[2J'): the name holds the control character U+001B" in output
    assert "\x1b[2J" not in output  # shown escaped: the terminal is not cleared


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ({"OMTX_MSA_PASSWORD": SECRET}, "needs both OMTX_MSA_USERNAME and OMTX_MSA_PASSWORD"),
        (
            {"OMTX_MSA_API_KEY": SECRET, "OMTX_MSA_USERNAME": "u", "OMTX_MSA_PASSWORD": SECRET},
            "takes one way of authenticating",
        ),
    ],
    ids=["password-without-user", "two-methods"],
)
def test_unusable_msa_credentials_stop_the_plan(tmp_path, environment, says):
    raw = write_screen(tmp_path, proteins=[{"name": "P1", "sequence": "MKTAYIAK", "msa": "server"}])
    output = refused_plan(tmp_path, write_config_file(tmp_path, raw), environment=environment)
    assert says in output
    assert SECRET not in output


def test_a_credential_in_the_config_stops_the_plan_unrepeated(tmp_path):
    raw = write_screen(tmp_path, runtime={"msa_server_url": f"https://team:{SECRET}@msa.example"})
    output = refused_plan(tmp_path, write_config_file(tmp_path, raw))
    assert "config key 'runtime.msa_server_url' holds a URL with a user name or password" in output
    assert SECRET not in output


def test_a_dry_run_of_hostile_names_shows_none_of_them(tmp_path):
    raw = write_screen(tmp_path, shard_size=4)
    (tmp_path / "ligands.csv").write_bytes(hostile_sheet(["CCO", "CCN", "CCC", "c1ccccc1"]))
    run = run_snakemake(
        tmp_path, "-n", "--printshellcmds", "--configfile", str(write_config_file(tmp_path, raw))
    )
    output = run.stdout + run.stderr
    assert planned_jobs(output)["boltz_predict_shard"] == 1
    # Jobs are named by screen, protein and shard; no rule has a shell command to print.
    assert not [name for name in HOSTILE_NAMES if len(name) > 2 and name in output]


# ---- Config files: the strict reader runs before Snakemake's `configfile:` merges them
# (workflow/Snakefile; docs/reliability.md, "The config files") ----

HOSTILE_CONFIG_FILES = {
    "list-alias-bomb": (
        alias_bomb("list"),
        "line 6: with its aliases ('*name') expanded, the config holds more than 100,000",
    ),
    "a-key-twice": (
        "model: {seed: 1}\nmodel: {seed: 2}\n",
        "line 2: the key 'model' is given twice in this mapping (first on line 1)",
    ),
    "a-python-tag": (
        "runtime: !!python/name:os.system\n",
        "line 1: the tag '!!python/name:os.system': tags are not allowed in a screen config",
    ),
    "infinite-timeout": (
        "runtime: {msa_timeout_s: .inf}\n",
        "config key 'runtime.msa_timeout_s': Input should be a finite number",
    ),
}


@pytest.mark.parametrize("case", HOSTILE_CONFIG_FILES, ids=list(HOSTILE_CONFIG_FILES))
def test_a_hostile_config_file_stops_the_plan_naming_its_line(tmp_path, case):
    text, says = HOSTILE_CONFIG_FILES[case]
    screen = write_config_file(tmp_path, write_screen(tmp_path))
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(text)
    output = refused_plan(tmp_path, screen, hostile)
    assert says in output
    assert "Traceback" not in output


def test_an_alias_bomb_in_the_workflows_own_config_is_refused_before_snakemake_merges_it(
    tmp_path,
):
    # Snakemake's merge (snakemake.utils.update_config) copies every mapping it reaches: a
    # mapping bomb that reached it would never finish.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(alias_bomb("mapping"))
    output = refused_plan(tmp_path, write_config_file(tmp_path, write_screen(tmp_path)))
    assert "config file 'config/config.yaml', line 5: with its aliases" in output


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", "RecursionError"),
        ("screen: !!python/object:os.system {}\n", "Config file is not valid JSON or YAML"),
    ],
    ids=["a-list-5000-deep", "a-python-object-tag"],
)
def test_what_snakemakes_own_loader_refuses_before_the_workflow_runs(tmp_path, text, says):
    """Snakemake 9 reads each --configfile (PyYAML's FullLoader, through yte) before the
    workflow runs: these end there, in Snakemake's words (documented, not ours to word)."""
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(text)
    assert says in refused_plan(tmp_path, hostile)
