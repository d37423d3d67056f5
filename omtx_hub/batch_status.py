"""Status polls of Google Batch jobs that survive transient API errors.

snakemake-executor-plugin-googlebatch 0.5.1 polls every running job with
`BatchServiceClient.get_job` (executor.py `check_active_jobs`). The client retries only
ServiceUnavailable (google-cloud-batch's default retry for GetJob); on DeadlineExceeded the
plugin reports the still-running job as failed, then reads the unbound `response` and the
UnboundLocalError ends the status thread and with it the run, while the VMs keep running.

`retry_status_polls` wraps the client the executor creates, without forking the plugin: its
`get_job` retries transient errors (DeadlineExceeded included) with backoff, so the plugin
never sees them. When Batch does not answer for STATUS_POLL_TIMEOUT_S the run ends with a
message saying so.
"""

from __future__ import annotations

from collections.abc import Callable

from google.api_core import exceptions, retry

# Long enough for a regional Batch API incident; the VMs run on meanwhile.
STATUS_POLL_TIMEOUT_S = 1800.0


def is_transient(error: Exception) -> bool:
    return isinstance(error, exceptions.DeadlineExceeded) or retry.if_transient_error(error)


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

    def get_job(self, *args, **kwargs):
        try:
            return self._policy(self._client.get_job)(*args, **kwargs)
        except exceptions.RetryError as error:
            raise StatusPollsFailed(
                f"Google Batch did not answer job status requests for "
                f"{self._policy.timeout:g} s ({error.cause!r}). The submitted jobs keep "
                "running (and billing) on Batch: cancel them or run the same command again to "
                "resume (docs/google-batch.md, 'Cancel')"
            ) from error

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
