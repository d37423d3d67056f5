"""Status polls of Google Batch jobs retry transient API errors (plugin 0.5.1 would end
the run on a DeadlineExceeded); the run-level contract is in tests/cloud/test_googlebatch.py."""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from omtx_hub.batch_status import RetryingStatusPolls, StatusPollsFailed


class FlakyBatchClient:
    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    def get_job(self, request):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return f"job {request}"

    def create_job(self, request):
        return f"created {request}"


def test_transient_errors_are_retried_and_reported():
    client = FlakyBatchClient(
        exceptions.DeadlineExceeded("slow"), exceptions.ServiceUnavailable("x")
    )
    warnings = []
    polls = RetryingStatusPolls(client, warnings.append, initial_delay_s=0.01)
    assert polls.get_job(request="j1") == "job j1"
    assert client.calls == 3
    assert len(warnings) == 2 and "DeadlineExceeded" in warnings[0]
    assert polls.create_job(request="j2") == "created j2"  # everything else passes through


def test_other_errors_are_not_retried():
    client = FlakyBatchClient(exceptions.PermissionDenied("no batch.jobs.get"))
    polls = RetryingStatusPolls(client, lambda message: None, initial_delay_s=0.01)
    with pytest.raises(exceptions.PermissionDenied):
        polls.get_job(request="j1")
    assert client.calls == 1


def test_a_batch_api_that_never_answers_ends_with_a_message():
    client = FlakyBatchClient(*[exceptions.DeadlineExceeded("slow")] * 100)
    polls = RetryingStatusPolls(client, lambda message: None, timeout_s=0.05, initial_delay_s=0.01)
    with pytest.raises(StatusPollsFailed, match=r"did not answer job status requests for 0\.05 s"):
        polls.get_job(request="j1")
