"""VMs without external IP addresses on Google Batch.

snakemake-executor-plugin-googlebatch 0.5.1 passes `googlebatch-network` and
`googlebatch-subnetwork` to Batch (executor.py `get_network_policy`) but has no option for
Batch's `noExternalIpAddress`, which a project under the organisation policy
`constraints/compute.vmExternalIpAccess` needs. `honour_internal_ip_only` adds it without
forking the plugin: a job whose resources hold `googlebatch_no_external_ip` (the profile's
`set-resources`) gets VMs with internal addresses only (docs/google-batch.md, step 1d).
"""

from __future__ import annotations

# The job resource that asks for internal IP addresses only.
NO_EXTERNAL_IP = "googlebatch_no_external_ip"


def honour_internal_ip_only() -> None:
    """Make every GoogleBatchExecutor in this process honour NO_EXTERNAL_IP. Idempotent."""
    from google.cloud import batch_v1
    from snakemake_executor_plugin_googlebatch.executor import GoogleBatchExecutor

    if getattr(GoogleBatchExecutor, "_omtx_internal_ip", False):
        return
    network_policy = GoogleBatchExecutor.get_network_policy

    def get_network_policy(executor, job):
        policy = network_policy(executor, job)
        if not job.resources.get(NO_EXTERNAL_IP):
            return policy
        interfaces = (
            list(policy.network_interfaces)
            if policy is not None
            else [batch_v1.AllocationPolicy.NetworkInterface()]
        )
        for interface in interfaces:
            interface.no_external_ip_address = True
        return batch_v1.AllocationPolicy.NetworkPolicy(network_interfaces=interfaces)

    GoogleBatchExecutor.get_network_policy = get_network_policy
    GoogleBatchExecutor._omtx_internal_ip = True
