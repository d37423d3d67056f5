"""MSA-server credentials: from the environment only, to Boltz's client, and nowhere else."""

from __future__ import annotations

import base64
import inspect
import logging

# Imported at collection: importing Boltz sets torch's environment variables, which the
# environment guard of tests/conftest.py would otherwise take for a test's leftovers.
import boltz.main
import pytest

from omtx_hub.credentials import (
    CredentialError,
    MsaCredentials,
    check_secrets_stay_local,
    redact_url,
)
from omtx_hub.msa_server import fetch_server_msas
from omtx_hub.notify import send
from omtx_hub.testing.msa_server import fake_msa_server

SEQUENCE = "MKTAYIAKQRQISFVKSHFS"
SECRET = "s3cr3t-Dummy-Value-7f1c"


def fetched_msa(server, credentials: MsaCredentials) -> str:
    (msa,) = fetch_server_msas(
        [SEQUENCE], server_url=server.url, pairing_strategy="greedy", credentials=credentials
    )
    return msa.decode()


def test_the_api_key_reaches_the_msa_server_in_its_header_and_nowhere_else(
    tmp_path, monkeypatch, caplog, capfd
):
    monkeypatch.setenv("OMTX_MSA_API_KEY", SECRET)
    monkeypatch.setenv("OMTX_MSA_API_KEY_HEADER", "X-Omtx-Test-Key")
    credentials = MsaCredentials.from_environment()
    assert SECRET not in repr(credentials) and SECRET not in credentials.describe()
    with fake_msa_server() as server, caplog.at_level(logging.DEBUG):
        msa = fetched_msa(server, credentials)
    # Boltz's client: a submission and the download, each carrying the key.
    assert [r["method"] for r in server.requests] == ["POST", "GET"]
    assert all(r["headers"]["X-Omtx-Test-Key"] == SECRET for r in server.requests)
    assert all("Authorization" not in r["headers"] for r in server.requests)
    rows = msa.splitlines()
    assert (
        rows[:2] == ["key,sequence", f"-1,{SEQUENCE}"] and f"-1,{server.hits(SEQUENCE)[0]}" in rows
    )
    captured = capfd.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert "API key in header X-Omtx-Test-Key" in caplog.text
    assert SECRET not in everything


def test_basic_authentication_reaches_the_msa_server(tmp_path, monkeypatch, caplog, capfd):
    monkeypatch.setenv("OMTX_MSA_USERNAME", "screening-team")
    monkeypatch.setenv("OMTX_MSA_PASSWORD", SECRET)
    with fake_msa_server() as server, caplog.at_level(logging.DEBUG):
        fetched_msa(server, MsaCredentials.from_environment())
    expected = "Basic " + base64.b64encode(f"screening-team:{SECRET}".encode()).decode()
    assert all(r["headers"]["Authorization"] == expected for r in server.requests)
    captured = capfd.readouterr()
    assert SECRET not in caplog.text + captured.out + captured.err


def test_without_credentials_nothing_is_sent(tmp_path, monkeypatch):
    for name in ("OMTX_MSA_USERNAME", "OMTX_MSA_PASSWORD", "OMTX_MSA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with fake_msa_server() as server:
        fetched_msa(server, MsaCredentials.from_environment())
    assert all("Authorization" not in r["headers"] for r in server.requests)
    assert all("X-API-Key" not in r["headers"] for r in server.requests)


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ({"OMTX_MSA_USERNAME": "me"}, "needs both OMTX_MSA_USERNAME and OMTX_MSA_PASSWORD"),
        ({"OMTX_MSA_PASSWORD": SECRET}, "needs both OMTX_MSA_USERNAME and OMTX_MSA_PASSWORD"),
        (
            {"OMTX_MSA_USERNAME": "me", "OMTX_MSA_PASSWORD": SECRET, "OMTX_MSA_API_KEY": SECRET},
            "Boltz's MSA client takes one way of authenticating",
        ),
        ({"OMTX_MSA_API_KEY_HEADER": "X-Key"}, "names the header for OMTX_MSA_API_KEY"),
        (
            {"OMTX_MSA_API_KEY": SECRET, "OMTX_MSA_API_KEY_HEADER": "X Key: 1"},
            "is not an HTTP header name",
        ),
    ],
    ids=["user-only", "password-only", "both-methods", "header-without-key", "bad-header"],
)
def test_inconsistent_credentials_are_refused_without_showing_them(environment, says):
    with pytest.raises(CredentialError) as error:
        MsaCredentials.from_environment(environment)
    assert says in str(error.value)
    assert SECRET not in str(error.value)


def test_the_boltz_client_gets_exactly_the_credentials():
    """The names of boltz.main.compute_msa's keyword arguments (Boltz 2.2.1)."""
    arguments = MsaCredentials(api_key=SECRET).compute_msa_arguments()
    assert set(arguments) <= set(inspect.signature(boltz.main.compute_msa).parameters)
    assert arguments["api_key_value"] == SECRET and arguments["api_key_header"] is None


@pytest.mark.parametrize(
    "variables",
    [["OMTX_MSA_API_KEY"], ["PATH", "OMTX_MSA_PASSWORD"], ["OMTX_NOTIFY_URL"]],
)
def test_secrets_are_never_passed_to_remote_jobs(variables):
    with pytest.raises(CredentialError, match="would be written in clear into every remote job"):
        check_secrets_stay_local(variables)


def test_other_variables_may_be_passed_to_remote_jobs():
    check_secrets_stay_local(["OMTX_VALIDATED_SHEET", "OMTX_MSA_USERNAME", "PATH"])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXXSECRET", "https://hooks.slack.com/..."),
        (
            "https://me:SECRET@example.org:8443/hook?token=SECRET",
            "https://...@example.org:8443/...",
        ),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9"),
        ("http://[::1", "(an unparseable URL)"),
    ],
)
def test_urls_are_logged_without_their_tokens(url, shown):
    assert redact_url(url) == shown


def test_an_undelivered_notice_logs_the_webhook_without_its_token(caplog):
    with caplog.at_level(logging.WARNING):
        assert send({"x": 1}, "http://127.0.0.1:9/hook?token=SECRET") is False
    assert "could not notify http://127.0.0.1:9/..." in caplog.text
    assert "SECRET" not in caplog.text
