"""A binder screen's `msa: server` binders (issue 22 item 3): each distinct sequence is a
query of its own, unpaired, fetched by a batch's fetch_binder_msas job before its targets are
keyed, kept in the result store as a one-chain receptor's MSA, reused by later screens, and
read by the shard job from the store, checked against its key. Against the local fake
ColabFold server (omtx_hub.testing.msa_server); the real Boltz run is
tests/workflow/test_binder_screen.py's."""

from pathlib import Path

# Boltz's client imports torch, which sets environment variables when first imported: at
# collection, not inside a test (whose environment must stay unchanged).
import boltz.main  # noqa: F401
import pytest

import omtx_hub.msa_server as msa_module
from omtx_hub import keys
from omtx_hub.config import load_config
from omtx_hub.credentials import MsaCredentials
from omtx_hub.layout import ScreenLayout
from omtx_hub.msa_server import (
    MsaServerError,
    binder_query_id,
    provide_server_msas,
    write_binder_server_msas,
)
from omtx_hub.plan import build_plan
from omtx_hub.plan_artifact import read_plan
from omtx_hub.predict import ShardError
from omtx_hub.store import LocalStore
from omtx_hub.testing.msa_server import fake_msa_server
from tests.screens import shard_job, write_screen

SHEET = (
    "name,sequence,chain_type,msa,cyclic\n"
    "p1,GSWAEK,peptide,server,\n"
    "p2,GSWAKD,peptide,,\n"
    "p3,GSWAEK,peptide,server,true\n"  # p1's sequence, another chain: the same query
    "p1_again,gswaek,peptide,server,\n"  # p1's target
)


def server_screen(
    directory: Path, server_url: str, sheet: str = SHEET, *, shard_size=2, store=None, **runtime
):
    directory.mkdir(exist_ok=True)
    (directory / "binders.csv").write_text(sheet)
    raw = write_screen(
        directory,
        shard_size=shard_size,
        model={"affinity": False},
        runtime={"msa_server_url": server_url, **runtime},
    )
    raw["ligands"] = str(directory / "binders.csv")
    if store is not None:
        raw["store"] = str(store)
    return load_config(raw)


def fetch(config, plan, batch: str, results: Path) -> None:
    """What the fetch_binder_msas job of `batch` does (workflow/scripts/fetch_binder_msas.py)."""
    write_binder_server_msas(
        LocalStore(config.store),
        plan.binder_msa_batches[batch],
        ScreenLayout.of(results, config.screen.name).binder_msa_record(batch),
        server_url=config.runtime.msa_server_url,
        pairing_strategy=config.runtime.msa_pairing_strategy,
        refresh=config.runtime.msa_refresh,
        credentials=MsaCredentials(),
        timeout_s=config.runtime.msa_timeout_s,
    )


def test_a_server_binder_is_keyed_once_its_msa_is_fetched_and_stored(tmp_path):
    results = tmp_path / "results"
    with fake_msa_server() as server:
        config = server_screen(tmp_path, server.url)
        store = LocalStore(config.store)
        plan = build_plan(config, store, results_root=results)
        query = binder_query_id("GSWAEK", config.runtime)
        # The one-chain receptor's address: a receptor chain of that sequence shares it.
        assert query == keys.server_msa_id(["GSWAEK"], server.url, "greedy")
        # Shards of two binders: p1 (and p1_again) with p2, then p3.
        assert plan.binder_msa_batches == {
            "00000": {query: ("GSWAEK", "binder 'p1'")},
            "00001": {query: ("GSWAEK", "binder 'p3'")},
        }
        assert plan.pending_binder_msas == ["00000", "00001"]
        # Planning asks the server nothing; the waiting shards have no spec yet.
        plan.write(LocalStore(tmp_path))
        index = read_plan(tmp_path / "results/s1/plan/plan.json")
        assert [shard.sha256 for shard in index.shards] == [None, None]

        fetch(config, plan, "00000", results)
        # One unpaired query of the binder alone (Boltz pairs only several sequences).
        assert [(s["endpoint"], s["sequences"]) for s in server.submissions] == [
            ("msa", ["GSWAEK"])
        ]
        plan.use_fetched_binder_msas("00000", store, results)
        assert plan.pending_binder_msas == ["00001"]
        # The second batch's job takes the same query's MSA from the store.
        fetch(config, plan, "00001", results)
        assert len(server.submissions) == 1
        plan.use_fetched_binder_msas("00001", store, results)
        assert plan.pending_binder_msas == []
        targets = list(plan.targets())

        # Keyed as a csv file of the same bytes would be: by content, not by where it came from.
        (stored,) = provide_server_msas(
            store,
            ["GSWAEK"],
            server_url=server.url,
            pairing_strategy="greedy",
            refresh=False,
            credentials=MsaCredentials(),
        )[0]
        (tmp_path / "fetched.csv").write_bytes(stored)
        as_file = SHEET.replace("server", str(tmp_path / "fetched.csv"))
        file_config = server_screen(tmp_path / "as_file", server.url, as_file, store=config.store)
        file_plan = build_plan(file_config, store, results_root=results)
        assert [t.key for t in targets] == [t.key for t in file_plan.targets()]
        assert [t.binder.msa for t in targets] == ["server", "empty", "server"]
        assert targets[0].binder.msa_identity == keys.msa_file_identity("x.csv", stored)

        # Another screen of these binders: from the store, nothing pending, the same keys.
        again = server_screen(tmp_path / "again", server.url, store=config.store)
        replanned = build_plan(again, store, results_root=tmp_path)
        assert replanned.pending_binder_msas == []
        assert [t.key for t in replanned.targets()] == [t.key for t in targets]
        assert len(server.submissions) == 1

        # runtime.msa_refresh asks again: every batch waits for its job.
        refreshing = server_screen(
            tmp_path / "again", server.url, store=config.store, msa_refresh=True
        )
        fresh = build_plan(refreshing, store, fetching_msas_anew=True, results_root=tmp_path)
        assert fresh.pending_binder_msas == ["00000", "00001"]


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(msa_module, "FIRST_RETRY_WAIT_S", 0.2)


def test_a_failing_server_fails_its_batch_naming_the_binder_and_keeps_what_it_fetched(
    tmp_path, quick_retries
):
    sheet = "name,sequence,msa\nfirst,GSWAEK,server\nfailing,GSWAKD,server\nlast,GSWADE,server\n"
    results = tmp_path / "results"
    with fake_msa_server() as server:
        config = server_screen(tmp_path, server.url, sheet, shard_size=3, msa_timeout_s=2)
        plan = build_plan(config, LocalStore(config.store), results_root=results)
        server.add_fault("error", status=503, sequence="GSWAKD", times=None)
        with pytest.raises(MsaServerError) as error:
            fetch(config, plan, "00000", results)
        assert str(error.value).startswith(f"binder 'failing': the MSA server {server.url} ")
        assert "the shards that do not need this MSA go on" in str(error.value)
        # The first binder's MSA is stored; the job stopped before the last one.
        assert (server.fetched("GSWAEK"), server.fetched("GSWADE")) == (1, 0)
        assert not ScreenLayout.of(results, "s1").binder_msa_record("00000").exists()

        # The rerun's plan knows the first binder's MSA; its job asks only for the rest.
        server.faults.clear()
        rerun = build_plan(config, LocalStore(config.store), results_root=results)
        assert rerun.pending_binder_msas == ["00000"]
        fetch(config, rerun, "00000", results)
        assert [s["sequences"] for s in server.submissions][-2:] == [["GSWAKD"], ["GSWADE"]]
        assert server.fetched("GSWAEK") == 1


def test_a_shard_refuses_a_binder_msa_the_store_replaced_after_planning(tmp_path):
    results = tmp_path / "results"
    with fake_msa_server() as server:
        config = server_screen(tmp_path, server.url, "name,sequence,msa\np1,GSWAEK,server\n")
        store = LocalStore(config.store)
        plan = build_plan(config, store, results_root=results)
        fetch(config, plan, "00000", results)
        plan.use_fetched_binder_msas("00000", store, results)
        # Another screen refreshes the store's copy (runtime.msa_refresh).
        server.variant += 1
        provide_server_msas(
            store,
            ["GSWAEK"],
            server_url=server.url,
            pairing_strategy="greedy",
            refresh=True,
            credentials=MsaCredentials(),
        )
    job = shard_job(config, plan, store, tmp_path, "P1", "00000")
    with pytest.raises(ShardError, match=r"the server MSA of binder GSWAEK .* another screen"):
        job.run()  # before any weights are read or Boltz is started
