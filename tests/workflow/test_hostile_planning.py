"""Hostile input stopped by `snakemake` itself, before any job: what the user sees."""

from __future__ import annotations

import subprocess

import pytest

from tests.hostile import HOSTILE_NAMES, hostile_sheet
from tests.screens import (
    planned_jobs,
    run_snakemake,
    snakemake_command,
    snakemake_env,
    write_config_file,
    write_screen,
)

SECRET = "pw-DUMMY-4c2a"


def refused_plan(workdir, config, environment=None) -> str:
    """The output of a `snakemake -n` that fails at parse time."""
    result = subprocess.run(
        snakemake_command(workdir, "-n", "--configfile", str(config)),
        capture_output=True,
        text=True,
        env=snakemake_env() | (environment or {}),
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
    output = refused_plan(tmp_path, write_config_file(tmp_path, raw), environment)
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
