"""MSAs: a user's file is refused at planning when Boltz would not use it; a server MSA is
fetched once through Boltz's own client, kept in the result store and reused."""

from __future__ import annotations

import json
from pathlib import Path

# Boltz's client and parsers import torch and RDKit, which set environment variables when first
# imported: at collection, not inside a test (whose environment must stay unchanged).
import boltz.main  # noqa: F401
import pytest

import omtx_hub.msa_server as msa_module
from omtx_hub.config import ConfigError, load_config
from omtx_hub.credentials import MsaCredentials
from omtx_hub.keys import server_msa_id
from omtx_hub.msa_files import query_mismatch
from omtx_hub.msa_server import provide_server_msas, stored_server_msa, write_server_msas
from omtx_hub.preflight import check_files
from omtx_hub.store import LocalStore
from omtx_hub.testing.msa_server import DOWNLOAD, SUBMIT, fake_msa_server
from tests.screens import write_screen

SEQUENCE = "MKTAYIAKQR"


def msa_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "text", "sequence"),
    [
        ("exact.a3m", ">query\nMKTAYIAKQR\n>hit\nMKTAYIAKQK\n", SEQUENCE),
        # A ColabFold a3m: a '#' line first, insertions (lower case) in the hits.
        ("colabfold.a3m", "#10\t1\n>101\nMKTAYIAKQR\n>hit\nMKTaaAYIAKQK\n", SEQUENCE),
        ("insertions.a3m", ">query\nMKTAYIAKgggQR\n", SEQUENCE),
        ("exact.csv", "key,sequence\n-1,MKTAYIAKQR\n-1,MKTAYIAKQK\n", SEQUENCE),
        # Boltz accepts a query that differs only where the chain is unknown (X) ...
        ("unknown.a3m", ">query\nMKTAYIAKQR\n", "MKTXYIAKQX"),
        # ... or only where the chain has MET and the query UNK.
        ("met.a3m", ">query\nXKTAYIAKQR\n", SEQUENCE),
    ],
)
def test_msas_boltz_uses_pass(tmp_path, name, text, sequence):
    assert query_mismatch(msa_file(tmp_path, name, text), sequence) is None


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("residue.a3m", ">q\nMKTGYIAKQR\n", "position 4: 'G' in the MSA, 'A' in the sequence"),
        ("gap.a3m", ">q\nMKT-YIAKQR\n", "position 4: '-' in the MSA, 'A' in the sequence"),
        ("short.a3m", ">q\nMKTAYIAK\n", "position 9: '(end)' in the MSA, 'Q' in the sequence"),
        ("long.csv", "key,sequence\n-1,MKTAYIAKQRW\n", "position 11: 'W' in the MSA, '(end)'"),
        # The first sequence is the query, wherever the protein's own row is.
        ("order.a3m", ">hit\nMKTAYIAKQK\n>q\nMKTAYIAKQR\n", "position 10: 'K' in the MSA"),
        ("residue.csv", "key,sequence\n-1,MKTAYIAKQK\n", "position 10: 'K' in the MSA, 'R'"),
        # Boltz's other exceptions: UNK next to a real difference is no exception.
        ("mixed.a3m", ">q\nXKTGYIAKQR\n", "position 4: 'G' in the MSA"),
        ("letter.a3m", ">q\nMKTAY*AKQR\n", "'*', which is not a residue letter Boltz reads"),
        ("columns.csv", "id,seq\n1,MKTAYIAKQR\n", "expected columns"),
        ("empty.a3m", "#nothing\n", "holds no sequence"),
    ],
)
def test_msas_boltz_would_replace_are_explained(tmp_path, name, text, expected):
    problem = query_mismatch(msa_file(tmp_path, name, text), SEQUENCE)
    assert problem is not None and expected in problem


def test_a_mismatching_msa_is_refused_at_planning_with_key_file_and_position(tmp_path):
    path = msa_file(tmp_path, "other.a3m", ">q\nMKTAYIAKQRQISFVKSHFS\n")
    raw = write_screen(tmp_path, proteins=[{"name": "P1", "sequence": SEQUENCE, "msa": str(path)}])
    with pytest.raises(ConfigError) as error:
        check_files(load_config(raw))
    message = str(error.value)
    assert "config key 'proteins[0].msa'" in message
    assert f"MSA file '{path}' of protein 'P1'" in message
    assert "position 11: 'Q' in the MSA, '(end)' in the sequence" in message
    assert "MSA does not match input sequence, creating dummy" in message


def provide(store, server, sequences=(SEQUENCE,), refresh=False):
    return provide_server_msas(
        store,
        list(sequences),
        server_url=server.url,
        pairing_strategy="greedy",
        refresh=refresh,
        credentials=MsaCredentials(),
    )


def test_a_server_msa_is_fetched_once_and_reused(tmp_path):
    store = LocalStore(tmp_path / "store")
    with fake_msa_server() as server:
        contents, source = provide(store, server)
        assert source == "server" and len(server.submissions) == 1
        assert server.submissions[0]["sequences"] == [SEQUENCE]
        assert contents[0].startswith(b"key,sequence\n-1,MKTAYIAKQR\n")
        # Another screen, the same protein: from the store, the server is not asked.
        again, source = provide(store, server)
        assert (again, source) == (contents, "store")
        assert len(server.submissions) == 1
        # The refresh switch asks again and replaces the stored MSA.
        server.variant += 1
        refreshed, source = provide(store, server, refresh=True)
        assert source == "server" and len(server.submissions) == 2
        assert refreshed != contents
    query_id = server_msa_id([SEQUENCE], server.url, "greedy")
    stored = stored_server_msa(store, query_id)
    assert stored.record["sequences"] == [SEQUENCE]
    assert stored.record["chains"][0]["depth"] == refreshed[0].count(b"\n")
    assert (tmp_path / f"store/msa/{query_id}/0.csv").read_bytes() == refreshed[0]


def test_a_damaged_server_msa_is_moved_aside_and_fetched_again(tmp_path, caplog):
    # Issue 19, item 2: the record is sealed and names each chain file's sha256; a chain file
    # or record that does not match is reported, moved aside and fetched again.
    store = LocalStore(tmp_path / "store")
    with fake_msa_server() as server:
        contents, _ = provide(store, server)
        query_id = server_msa_id([SEQUENCE], server.url, "greedy")
        chain = tmp_path / f"store/msa/{query_id}/0.csv"
        record = tmp_path / f"store/msa/{query_id}/msa.json"
        sealed = record.read_bytes()
        for damage in (
            lambda: chain.write_bytes(contents[0].replace(b"MKTAYIAKQR", b"MKTAYIAKQA", 1)),
            lambda: record.write_bytes(sealed.replace(b'"depth": ', b'"depth": 1', 1)),
        ):
            damage()
            with caplog.at_level("WARNING"):
                again, source = provide(store, server)
            assert (again, source) == (contents, "server")
            assert f"store/msa/{query_id}/" in caplog.text and "is damaged" in caplog.text
        assert len(server.submissions) == 3
        assert len(list((tmp_path / "store/quarantine").iterdir())) == 2
        # A record written before records were sealed is still read, its files checked.
        unsealed = json.loads(record.read_text())
        del unsealed["object"], unsealed["record_sha256"], unsealed["key"]
        record.write_text(json.dumps(unsealed))
        assert provide(store, server) == (contents, "store")
        assert stored_server_msa(store, query_id).record == unsealed
        chain.write_bytes(b"key,sequence\n")
        assert provide(store, server) == (contents, "server")


def test_the_chains_of_one_receptor_are_one_paired_query(tmp_path):
    store = LocalStore(tmp_path / "store")
    chains = [SEQUENCE, "ITMKHKLGGGQYGEVYEGVW"]
    with fake_msa_server() as server:
        contents, _ = provide(store, server, chains)
    # Boltz's compute_msa: a paired query for several chains, then the unpaired one.
    assert [s["endpoint"] for s in server.submissions] == ["pair", "msa"]
    assert all(s["sequences"] == chains for s in server.submissions)
    for chain, content in zip(chains, contents, strict=True):
        assert content.splitlines()[1].endswith(chain.encode())
    assert (
        len(stored_server_msa(store, server_msa_id(chains, server.url, "greedy")).chain_sha256) == 2
    )


def test_a_server_answering_for_another_sequence_is_refused(tmp_path):
    store = LocalStore(tmp_path / "store")
    with fake_msa_server() as server:
        server.wrong_query = True
        with pytest.raises(RuntimeError, match="would not use: its first sequence"):
            provide(store, server)
    assert store.blob_names("msa") == []


def test_the_fetch_job_writes_the_msa_and_says_where_it_came_from(tmp_path, caplog):
    store = LocalStore(tmp_path / "store")
    output = tmp_path / "results/s1/msa/P1/A.csv"
    record_output = tmp_path / "results/s1/msa/P1.json"
    with fake_msa_server() as server, caplog.at_level("INFO"):
        for _ in range(2):
            write_server_msas(
                store,
                [SEQUENCE],
                [output],
                record_output,
                server_url=server.url,
                pairing_strategy="greedy",
                refresh=False,
                credentials=MsaCredentials(),
            )
    messages = [
        r.getMessage()
        for r in caplog.records
        if r.name == "omtx_hub.msa_server" and not r.getMessage().startswith("MSA query to")
    ]
    assert "fetched now from" in messages[0]
    assert "reused from the result store" in messages[1]
    record = json.loads(
        store.read_blob(f"msa/{server_msa_id([SEQUENCE], server.url, 'greedy')}/msa.json")
    )
    assert record["chains"][0]["sha256"] in messages[1]
    assert output.read_bytes() == store.read_blob(f"msa/{record['query_id']}/0.csv")
    # The screen's copy is the stored record without its seal.
    sealed = {"object": "server MSA", "record_sha256": record["record_sha256"]}
    unsealed = {name: value for name, value in record.items() if name not in sealed}
    assert json.loads(record_output.read_text()) == {**unsealed, "msa_refresh": False}


# --- A failing server (issue 14, item 4) ---------------------------------------------------


@pytest.fixture
def quick_retries(monkeypatch):
    """Waits of a tenth of a second between attempts instead of 5 s, 10 s, ..."""
    monkeypatch.setattr(msa_module, "FIRST_RETRY_WAIT_S", 0.1)


def attempts(caplog) -> int:
    return sum(
        r.name == "omtx_hub.msa_server"
        and r.levelname == "INFO"
        and "), attempt " in r.getMessage()
        for r in caplog.records
    )


def test_server_errors_are_retried_with_the_whole_query(tmp_path, quick_retries, caplog):
    store = LocalStore(tmp_path / "store")
    with fake_msa_server() as server, caplog.at_level("INFO"):
        # A 503 page for the submission: Boltz's client reads status ERROR and gives up at
        # once. Then a 500 page for the download: the client saves it as the result archive,
        # which does not unpack. Each ends an attempt; the third gets the MSA.
        server.add_fault("error", status=503, on=SUBMIT)
        server.add_fault("error", status=500, on=DOWNLOAD)
        contents, source = provide(store, server)
    assert source == "server" and contents[0].startswith(b"key,sequence\n-1,MKTAYIAKQR\n")
    assert attempts(caplog) == 3
    assert [r["fault"] for r in server.requests if r["fault"]] == ["error", "error"]
    assert server.fetched(SEQUENCE) == 1
    retried = [r.getMessage() for r in caplog.records if "asking again in" in r.getMessage()]
    assert "503 (fake MSA server)" in retried[0] and "MMseqs2 API is giving errors" in retried[0]
    assert "ReadError" in retried[1]


def test_rate_limiting_is_waited_out_by_boltzs_own_client(tmp_path, caplog):
    store = LocalStore(tmp_path / "store")
    with fake_msa_server() as server, caplog.at_level("INFO"):
        # HTTP 429 {"status": "RATELIMIT"}: run_mmseqs2 sleeps 5-10 s and resubmits itself,
        # within one attempt here (the retries do not multiply).
        server.add_fault("ratelimit", on=SUBMIT)
        provide(store, server)
    assert attempts(caplog) == 1
    assert [r["fault"] for r in server.requests if r["method"] == "POST"] == ["ratelimit", None]
    assert any("RATELIMIT" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            {"kind": "error", "status": 503},
            "MMseqs2 API is giving errors.*503 \\(fake MSA server\\)",
        ),
        # Boltz's client would resubmit without end; the attempt is cut off at the deadline.
        ({"kind": "ratelimit"}, "still no MSA when the 1.5 s were up.*RATELIMIT"),
        # No answer within the client's 6.02 s timeout, which it would retry 5 times.
        ({"kind": "slow", "delay_s": 10.0}, "still no MSA when the 1.5 s were up"),
    ],
    ids=["server-error", "rate-limited", "no-answer"],
)
def test_a_server_that_keeps_failing_fails_the_protein_in_the_time_allowed(
    tmp_path, quick_retries, fault, expected
):
    store = LocalStore(tmp_path / "store")
    with fake_msa_server() as server:
        server.add_fault(**fault, times=None)
        with pytest.raises(msa_module.MsaServerError, match=expected) as error:
            provide_server_msas(
                store,
                [SEQUENCE],
                server_url=server.url,
                pairing_strategy="greedy",
                refresh=False,
                credentials=MsaCredentials(),
                timeout_s=1.5,
                owner="protein 'P1'",
            )
    message = str(error.value)
    assert message.startswith(f"protein 'P1': the MSA server {server.url} gave no MSA in ")
    assert "runtime.msa_timeout_s: 1.5" in message and "last error: " in message
    assert server.downloads == [] and store.blob_names("msa") == []
