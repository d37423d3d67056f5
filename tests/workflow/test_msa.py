"""MSAs on the real Boltz path (test weights, CPU): planning refuses exactly the MSA files Boltz
would replace by a dummy, and a server MSA is fetched once per store, reused by the next
screen and fetched again when the refresh switch is turned on."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pandas as pd
import pytest

from omtx_hub.boltz_io import write_input
from omtx_hub.config import Model, Runtime, load_config
from omtx_hub.key_schemes import scheme_1_keys
from omtx_hub.msa_files import query_mismatch
from omtx_hub.plan import build_plan
from omtx_hub.predict import boltz_arguments
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.store import LocalStore
from omtx_hub.testing.msa_server import fake_msa_server
from tests.screens import (
    FAST_MODEL,
    SHORT_PROTEIN,
    planned_jobs,
    run_snakemake,
    runtime,
    snakemake_command,
    snakemake_env,
    write_config_file,
    write_screen,
)

pytestmark = pytest.mark.boltz

# (MSA file, its text, the chain's sequence): Boltz uses some, replaces the others by a dummy.
CASES = {
    "exact": ("exact.a3m", f">q\n{SHORT_PROTEIN}\n>h\nMKTAYIAKQRQISFVKSHFA\n", SHORT_PROTEIN),
    "insertions": (
        "ins.a3m",
        ">q\nMKTAYIAKQRQISFVKSHFS\n>h\nMKTAYIaaAKQRQISFVKSHFA\n",
        SHORT_PROTEIN,
    ),
    "query-insertion": ("qins.a3m", ">q\nMKTAYIAKQRQggISFVKSHFS\n", SHORT_PROTEIN),
    "residue": ("residue.a3m", ">q\nMKTAYIAKQRQISFVKSHFA\n", SHORT_PROTEIN),
    "gap": ("gap.a3m", ">q\nMKTAYIAKQRQ-SFVKSHFS\n", SHORT_PROTEIN),
    "shorter": ("short.a3m", ">q\nMKTAYIAKQRQISFVKSH\n", SHORT_PROTEIN),
    "exact-csv": (
        "exact.csv",
        f"key,sequence\n-1,{SHORT_PROTEIN}\n-1,MKTAYIAKQRQISFVKSHFA\n",
        SHORT_PROTEIN,
    ),
    "residue-csv": ("residue.csv", "key,sequence\n-1,MKTAYIAKQRQISFVKSHFA\n", SHORT_PROTEIN),
    "met-as-unknown": ("met.a3m", ">q\nXKTAYIAKQRQISFVKSHFS\n", SHORT_PROTEIN),
    "unknown-in-chain": ("unk.a3m", f">q\n{SHORT_PROTEIN}\n", "MKTAYIAKQRQISFVKSHFX"),
    "mixed": ("mixed.a3m", ">q\nXKTAYIAKQRQISFVKSHFA\n", SHORT_PROTEIN),
}
DUMMY_WARNING = "MSA does not match input sequence, creating dummy"


def test_planning_refuses_exactly_the_msas_boltz_replaces(boltz_test_cache, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for case, (name, text, sequence) in CASES.items():
        (tmp_path / name).write_text(text)
        # Built without the MSA (the spec would refuse the mismatched ones), handed it after.
        spec = ReceptorSpec.single_chain(sequence)
        msas = {spec.chains[0].ids[0]: str(tmp_path / name)}
        write_input(inputs / f"{case}.yaml", spec, msas, "CCO", affinity=False)
    model = Model(**{**FAST_MODEL, "affinity": False})
    command = boltz_arguments(model, Runtime(**runtime(boltz_test_cache)), inputs, tmp_path / "out")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    warned = {line.split()[-1] for line in result.stdout.splitlines() if DUMMY_WARNING in line}
    refused = {
        case
        for case, (name, _, sequence) in CASES.items()
        if query_mismatch(tmp_path / name, sequence) is not None
    }
    assert refused == {"residue", "gap", "shorter", "residue-csv", "mixed"}
    assert warned == refused
    predicted = tmp_path / "out/boltz_results_inputs/predictions"
    assert {path.name for path in predicted.iterdir()} == set(CASES)


def output(run: subprocess.CompletedProcess) -> str:
    return run.stdout + run.stderr


def manifest(workdir, screen: str) -> dict:
    return json.loads((workdir / f"results/{screen}/shards/P1/00000.json").read_text())


def test_a_server_msa_is_fetched_once_reused_and_refreshed(boltz_test_cache, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    store = tmp_path / "store"

    def screen_config(name: str, server_url: str, **runtime_settings) -> tuple[dict, str]:
        raw = write_screen(
            tmp_path / name,
            rows=[("eth", "CCO")],
            shard_size=1,
            model={**FAST_MODEL, "affinity": False},
            runtime={**runtime(boltz_test_cache), "msa_server_url": server_url, **runtime_settings},
            store=str(store),
            screen={"name": name},
            proteins=[{"name": "P1", "sequence": SHORT_PROTEIN, "msa": "server"}],
        )
        return raw, str(write_config_file(tmp_path / name, raw))

    with fake_msa_server() as server:
        for name in ("s1", "s2"):
            (tmp_path / name).mkdir()
        raw, first = screen_config("s1", server.url)
        # A store an earlier omtx-hub filled: the target is there under key scheme 1.
        (old_key,) = scheme_1_keys(build_plan(load_config(raw), LocalStore(store))).values()
        LocalStore(store).commit(old_key, {}, {"key": old_key, "status": "completed"})

        # A dry run asks nothing and says when the keys are known.
        dry = output(run_snakemake(workdir, "-n", "--configfile", first))
        assert "fetch_msa" in dry and "its MSA is asked from" in dry
        assert server.submissions == []

        run = output(run_snakemake(workdir, "--configfile", first))
        assert len(server.submissions) == 1
        assert "1 of this screen's 1 targets are in the result store" in run
        assert "only under key scheme 1" in run
        msa = (workdir / "results/s1/msa/P1/A.csv").read_bytes()
        computed = manifest(workdir, "s1")
        assert (computed["computed"], computed["reused"]) == (1, 0)
        (entry,) = computed["records"]
        assert entry["msa"] == f"csv:{hashlib.sha256(msa).hexdigest()}"
        assert entry["key"] != old_key and entry["key_scheme"] == 2
        table = pd.read_csv(workdir / "results/s1/batch_results.csv", keep_default_na=False)
        assert (table.loc[0, "msa"], table.loc[0, "flags"]) == ("server", "")
        summary = json.loads((workdir / "results/s1/summary.json").read_text())
        assert summary["proteins"][0]["msa_sha256"] == hashlib.sha256(msa).hexdigest()

        # Another screen: the MSA and the prediction from the store, the server not asked.
        run_snakemake(workdir, "--configfile", screen_config("s2", server.url)[1])
        assert len(server.submissions) == 1
        reused = manifest(workdir, "s2")
        assert (reused["computed"], reused["reused"]) == (0, 1)
        assert reused["records"][0]["key"] == entry["key"]

        # The refresh switch asks again; the server's new MSA gives a new key.
        server.variant += 1
        _, refreshing = screen_config("s2", server.url, msa_refresh=True)
        run_snakemake(workdir, "--configfile", refreshing)
        assert len(server.submissions) == 2
        refreshed = manifest(workdir, "s2")
        assert (refreshed["computed"], refreshed["reused"]) == (1, 0)
        assert refreshed["records"][0]["key"] != entry["key"]
        assert (workdir / "results/s2/msa/P1/A.csv").read_bytes() != msa

        # Nothing is redone: s2 with the switch still on, and s1, which keeps its own MSA.
        for config_file in (refreshing, first):
            assert "Nothing to be done" in output(
                run_snakemake(workdir, "-n", "--configfile", config_file)
            )
        # The switch turned off: fetch_msa copies the MSA from the store again (its params
        # changed), and no shard runs, since no key changes.
        off = output(
            run_snakemake(workdir, "-n", "--configfile", screen_config("s2", server.url)[1])
        )
        planned = planned_jobs(off)
        assert (planned["fetch_msa"], planned["total"]) == (1, 1)
        assert len(server.submissions) == 2


def test_a_protein_whose_msa_server_fails_fails_alone_and_resumes(boltz_test_cache, tmp_path):
    """Two proteins, two ligands, `--keep-going` (as every profile): the server keeps failing
    for P2's query only. P1's MSA is fetched once (not per ligand) and its shard completes;
    P2 fails with a message naming it, the server and the last error. Once the server
    answers, a rerun has only P2's MSA and shard to do."""
    other = "ITMKHKLGGGQYGEVYEGVW"
    workdir = tmp_path / "work"
    workdir.mkdir()
    with fake_msa_server() as server:
        raw = write_screen(
            tmp_path,
            rows=[("eth", "CCO"), ("amine", "CCN")],
            model={**FAST_MODEL, "affinity": False},
            runtime={**runtime(boltz_test_cache), "msa_server_url": server.url, "msa_timeout_s": 2},
            proteins=[
                {"name": "P1", "sequence": SHORT_PROTEIN, "msa": "server"},
                {"name": "P2", "sequence": other, "msa": "server"},
            ],
        )
        config = str(write_config_file(tmp_path, raw))
        server.add_fault("error", status=503, sequence=other, times=None)
        failed = subprocess.run(
            snakemake_command(workdir, "--keep-going", "--configfile", config),
            capture_output=True,
            text=True,
            env=snakemake_env(),
        )
        assert failed.returncode != 0
        p2_log = (workdir / "logs/s1/fetch_msa/P2.log").read_text()
        assert f"protein 'P2': the MSA server {server.url} gave no MSA in " in p2_log
        assert "last error: Exception: MMseqs2 API is giving errors" in p2_log
        assert "503 (fake MSA server)" in p2_log
        assert (server.fetched(SHORT_PROTEIN), server.fetched(other)) == (1, 0)
        p1 = manifest(workdir, "s1")
        assert (p1["computed"], p1["targets"]) == (2, 2)
        assert not (workdir / "results/s1/shards/P2").exists()
        assert not (workdir / "results/s1/batch_results.csv").exists()

        # Resuming (planned here; the fetch itself is tests/unit/test_msa.py's): only P2's
        # MSA and shard are left to do, then the screen's summary.
        server.faults.clear()
        planned = planned_jobs(output(run_snakemake(workdir, "-n", "--configfile", config)))
        assert (planned["fetch_msa"], planned["boltz_predict_shard"]) == (1, 1)
        assert server.submissions and all(
            submission["sequences"] == [SHORT_PROTEIN] for submission in server.submissions
        )
