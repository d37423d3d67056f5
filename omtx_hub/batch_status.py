"""Status polls of Google Batch jobs that survive transient API errors.

snakemake-executor-plugin-googlebatch 0.5.1 polls every running job with
`BatchServiceClient.get_job` (executor.py `check_active_jobs`). The client retries only
ServiceUnavailable (google-cloud-batch's default retry for GetJob); on DeadlineExceeded the
plugin reports the still-running job as failed, then reads the unbound `response` and the
UnboundLocalError ends the status thread and with it the run, while the VMs keep running.

`retry_status_polls` wraps the client the executor creates, without forking the plugin: its
`get_job` retries transient errors (DeadlineExceeded included) with backoff, so the plugin
never sees them. When Batch does not answer for STATUS_POLL_TIMEOUT_S the run ends with a
message naming the jobs that may still be running and the command that cancels them.

`fail_fast` makes the executor stop the run on a deterministic failure
(omtx_hub.cloud_failures): the failed job is not retried, no further job is submitted, the
jobs already running finish, and the run ends with one message naming the cause and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from google.api_core import exceptions, retry

from omtx_hub.cloud_failures import DeterministicFailure, deterministic_failure

# Long enough for a regional Batch API incident; the VMs run on meanwhile.
STATUS_POLL_TIMEOUT_S = 1800.0


def is_transient(error: Exception) -> bool:
    return isinstance(error, exceptions.DeadlineExceeded) or retry.if_transient_error(error)


# Batch's job states after which no VM of the job runs.
FINAL_STATES = {"SUCCEEDED", "FAILED", "DELETION_IN_PROGRESS"}
LABEL = "app=omtx-hub"  # profiles/googlebatch: googlebatch-labels


def cancel_command(project: str, region: str) -> str:
    """The command that cancels (deletes) every unfinished Batch job labelled LABEL."""
    key, value = LABEL.split("=")
    return (
        f"gcloud batch jobs list --project {project} --location {region} "
        f"--filter='labels.{key}={value} AND status.state:(QUEUED SCHEDULED RUNNING)' "
        f"--format='value(name)' | xargs -r -n1 gcloud batch jobs delete --project {project} "
        f"--location {region} --quiet"
    )


class StatusPollsFailed(RuntimeError):
    """Google Batch has not answered status requests for the whole retry timeout."""


class RetryingStatusPolls:
    """A BatchServiceClient whose `get_job` retries transient errors; every other call goes
    to the client unchanged."""

    def __init__(
        self,
        client,
        warn: Callable[[str], None],
        timeout_s: float = STATUS_POLL_TIMEOUT_S,
        initial_delay_s: float = 1.0,
    ):
        self._client = client
        self._policy = retry.Retry(
            predicate=is_transient,
            initial=initial_delay_s,
            maximum=60.0,
            multiplier=2.0,
            timeout=timeout_s,
            on_error=lambda error: warn(f"Google Batch status poll failed ({error!r}); retrying"),
        )

        # Every job this run created, by name, with the last status Batch gave for it.
        self.jobs: dict[str, object] = {}

    def create_job(self, *args, **kwargs):
        job = self._client.create_job(*args, **kwargs)
        self.jobs[job.name] = None
        return job

    def get_job(self, *args, **kwargs):
        try:
            job = self._policy(self._client.get_job)(*args, **kwargs)
        except exceptions.RetryError as error:
            raise StatusPollsFailed(
                f"Google Batch did not answer job status requests for "
                f"{self._policy.timeout:g} s ({error.cause!r}).\n{self.unfinished_jobs_text()}"
            ) from error
        self.jobs[job.name] = job.status
        return job

    def unfinished(self) -> list[str]:
        """The jobs this run created that were not seen to end: they may still be running."""
        return sorted(
            name
            for name, status in self.jobs.items()
            if status is None or status.state.name not in FINAL_STATES
        )

    def unfinished_jobs_text(self) -> str:
        names = self.unfinished()
        if not names:
            return "No job of this run was running when Batch was last seen to answer."
        location = names[0].split("/jobs/")[0]  # projects/P/locations/R
        project, region = location.split("/")[1], location.split("/")[3]
        return (
            f"These {len(names)} Batch job(s) of this run may still be running (and billing):\n"
            + "\n".join(f"  {name}" for name in names)
            + "\nCancel every job of the project's runs by their label (app=omtx-hub) with\n"
            + f"  {cancel_command(project, region)}\n"
            "or run the same command again to resume (docs/google-batch.md, 'Cancel')"
        )

    def events(self, name: str) -> list[str]:
        """The descriptions of the job's status events as last polled."""
        status = self.jobs.get(name)
        return [event.description for event in status.status_events] if status else []

    def __getattr__(self, name):
        return getattr(self._client, name)


def retry_status_polls(warn: Callable[[str], None]) -> None:
    """Make every GoogleBatchExecutor created from now on in this process poll through
    RetryingStatusPolls. Idempotent."""
    from snakemake_executor_plugin_googlebatch.executor import GoogleBatchExecutor

    if getattr(GoogleBatchExecutor, "_omtx_status_retry", False):
        return
    create_client = GoogleBatchExecutor.__post_init__

    def __post_init__(executor):
        create_client(executor)
        executor.batch = RetryingStatusPolls(executor.batch, warn)

    GoogleBatchExecutor.__post_init__ = __post_init__
    GoogleBatchExecutor._omtx_status_retry = True


# The deterministic failure that stopped the run of the newest executor, if one did.
_stopped: list[DeterministicFailure] = []


def run_stopped_by() -> DeterministicFailure | None:
    """The deterministic failure that stopped this process's Google Batch run, if one did."""
    return _stopped[0] if _stopped else None


def _failure_of(executor, job_info) -> DeterministicFailure | None:
    """A deterministic cause in what the failed job left: its output, which the plugin saved
    from Cloud Logging before reporting the failure, and its status events."""
    texts = []
    logfile = (job_info.aux or {}).get("logfile")
    if logfile and Path(logfile).is_file():
        texts.append(Path(logfile).read_text(errors="replace"))
    if isinstance(executor.batch, RetryingStatusPolls):
        texts.extend(executor.batch.events(job_info.external_jobid))
    return deterministic_failure(job_info.external_jobid or str(job_info.job), texts)


def fail_fast() -> None:
    """Make every GoogleBatchExecutor created from now on in this process stop the run on a
    deterministic failure (omtx_hub.cloud_failures): Snakemake's scheduler then submits
    nothing more, as after a first Ctrl-C, and waits for the jobs already running; the
    failed job is not retried. Idempotent."""
    from snakemake_executor_plugin_googlebatch.executor import GoogleBatchExecutor
    from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo

    if getattr(GoogleBatchExecutor, "_omtx_fail_fast", False):
        return
    create = GoogleBatchExecutor.__post_init__
    report_error = GoogleBatchExecutor.report_job_error
    submit = GoogleBatchExecutor.run_job

    def __post_init__(executor):
        create(executor)
        _stopped.clear()

    def report_job_error(executor, job_info, msg=None, **kwargs):
        failure = _failure_of(executor, job_info)
        if failure is not None:
            msg = f"{msg or ''}{failure.message}"
            # Its last attempt, for Snakemake's scheduler: it is not restarted.
            job_info.job.attempt = max(job_info.job.attempt, job_info.job.restart_times + 1)
            if not _stopped:
                _stopped.append(failure)
                executor.workflow.scheduler.exit_gracefully()
        report_error(executor, job_info, msg=msg, **kwargs)

    def run_job(executor, job):
        # A job the scheduler chose while the failure was being reported.
        if _stopped:
            report_error(
                executor, SubmittedJobInfo(job), msg=f"Not submitted. {_stopped[0].message}"
            )
            return
        submit(executor, job)

    GoogleBatchExecutor.__post_init__ = __post_init__
    GoogleBatchExecutor.report_job_error = report_job_error
    GoogleBatchExecutor.run_job = run_job
    GoogleBatchExecutor._omtx_fail_fast = True
