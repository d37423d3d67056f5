"""The completion callback's message and delivery (issue 12, item 6)."""

from __future__ import annotations

import json

from omtx_hub.notify import run_finished_message, send
from tests.notify_server import webhook_receiver


def test_success_message_carries_the_summary_counts(tmp_path):
    summary = tmp_path / "results" / "s1" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"counts": {"completed": 2, "failed": 1}}))
    message = run_finished_message(
        screen="s1",
        succeeded=True,
        results_root=str(tmp_path),
        targets=3,
        targets_in_store=2,
        log_files=["run.log"],
    )
    with webhook_receiver() as (url, received):
        assert send(message, url)
    assert received == [{"content_type": "application/json", "body": message}]
    assert message["status"] == "succeeded"
    assert message["counts"] == {"completed": 2, "failed": 1}
    assert message["dashboard"] == f"{tmp_path}/results/s1/report/index.html"


def test_failure_message_ignores_an_old_summary(tmp_path):
    summary = tmp_path / "results" / "s1" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"counts": {"completed": 9}}))  # an earlier run's
    message = run_finished_message(
        screen="s1",
        succeeded=False,
        results_root=str(tmp_path),
        targets=3,
        targets_in_store=1,
        log_files=[],
    )
    assert (message["status"], message["counts"], message["targets_in_store"]) == (
        "failed",
        None,
        1,
    )


def test_no_url_sends_nothing_and_an_unreachable_one_does_not_raise(monkeypatch):
    monkeypatch.delenv("OMTX_NOTIFY_URL", raising=False)
    assert send({"x": 1}) is False
    with webhook_receiver() as (url, _):
        pass  # the receiver is gone: the port refuses connections
    assert send({"x": 1}, url) is False
