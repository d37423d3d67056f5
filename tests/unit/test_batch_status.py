"""Status polls of Google Batch jobs retry transient API errors (plugin 0.5.1 would end
the run on a DeadlineExceeded); the run-level contract is in tests/cloud/test_googlebatch.py."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import batch_v1

from omtx_hub.batch_status import RetryingStatusPolls, StatusPollsFailed

PARENT = "projects/omtx-test-project/locations/us-central1"


class FlakyBatchClient:
    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    def get_job(self, request):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return batch_v1.Job(name=request, status={"state": "RUNNING"})

    def create_job(self, request):
        return batch_v1.Job(name=f"{PARENT}/jobs/{request}")


def test_transient_errors_are_retried_and_reported():
    client = FlakyBatchClient(
        exceptions.DeadlineExceeded("slow"), exceptions.ServiceUnavailable("x")
    )
    warnings = []
    polls = RetryingStatusPolls(client, warnings.append, initial_delay_s=0.01)
    assert polls.get_job(request="j1").status.state.name == "RUNNING"
    assert client.calls == 3
    assert len(warnings) == 2 and "DeadlineExceeded" in warnings[0]
    assert polls.create_job(request="j2").name == f"{PARENT}/jobs/j2"


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


class EndingBatchClient(FlakyBatchClient):
    """Answers with the job's state from `states` until `errors` are queued."""

    def __init__(self, states: dict[str, str]):
        super().__init__()
        self.states = states

    def get_job(self, request):
        if self.errors:
            raise self.errors.pop(0)
        return batch_v1.Job(name=request, status={"state": self.states[request]})


def test_lost_status_polls_name_the_jobs_that_may_run_and_how_to_cancel_them():
    """A run that ends on lost status polls says which of its jobs may still be running
    (created, not seen to end) and the command that cancels them by their label."""
    names = {job: f"{PARENT}/jobs/{job}" for job in ("a", "b", "c")}
    client = EndingBatchClient({names["a"]: "SUCCEEDED", names["b"]: "RUNNING"})
    polls = RetryingStatusPolls(client, lambda message: None, timeout_s=0.05, initial_delay_s=0.01)
    for job in names:
        polls.create_job(request=job)
    polls.get_job(request=names["a"])
    polls.get_job(request=names["b"])
    client.errors = [exceptions.DeadlineExceeded("slow")] * 100
    with pytest.raises(StatusPollsFailed) as error:
        polls.get_job(request=names["c"])
    message = str(error.value)
    assert (
        "These 2 Batch job(s) of this run may still be running (and billing):\n"
        f"  {names['b']}\n  {names['c']}\n" in message
    )
    assert names["a"] not in message
    assert (
        "gcloud batch jobs list --project omtx-test-project --location us-central1 "
        "--filter='labels.app=omtx-hub AND status.state:(QUEUED SCHEDULED RUNNING)' "
        "--format='value(name)' | xargs -r -n1 gcloud batch jobs delete "
        "--project omtx-test-project --location us-central1 --quiet" in message
    )


def test_status_events_are_kept_for_the_failure_classification():
    name = f"{PARENT}/jobs/j"

    class Client(FlakyBatchClient):
        def get_job(self, request):
            return batch_v1.Job(
                name=request,
                status={
                    "state": "FAILED",
                    "status_events": [{"description": "Failed to pull image x: denied"}],
                },
            )

    polls = RetryingStatusPolls(Client(), lambda message: None)
    polls.create_job(request="j")
    polls.get_job(request=name)
    assert polls.events(name) == ["Failed to pull image x: denied"]
    assert polls.unfinished() == []
