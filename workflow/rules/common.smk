# Validation and planning, done once, by the process that plans the run (Snakemake's main
# process), before any job runs: a bad config or ligand sheet stops here with a message naming
# the key, line or column. The plan is written as files (omtx_hub.plan_artifact) that the jobs
# execute: a job's own process (a remote job on its VM) only loads the config, whose models
# read nothing, and reads its shard's spec, whatever the size of the screen.
import functools
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod
from snakemake.logging import logger

from omtx_hub import layout
from omtx_hub.batch_network import honour_internal_ip_only
from omtx_hub.batch_status import fail_fast, retry_status_polls, run_stopped_by
from omtx_hub.canary import canary_shards
from omtx_hub.chai1 import chai1_image
from omtx_hub.cloud import (
    bucket_of,
    check_batch_jobs,
    check_bucket_access,
    check_config_files_shipped,
    check_remote_storage,
    check_sources_shipped,
)
from omtx_hub.config import ConfigError, load_config, receptor_warnings
from omtx_hub.cost import check_budget, estimate
from omtx_hub.failures import (
    retry_marks,
    screen_failures,
    shards_to_retry,
    worth_retrying,
)
from omtx_hub.credentials import (
    CredentialError,
    MsaCredentials,
    check_secrets_stay_local,
)
from omtx_hub.key_schemes import older_scheme_report
from omtx_hub.notify import (
    NOTIFY_URL_VARIABLE,
    finished_run_lines,
    run_finished_message,
    send,
)
from omtx_hub.plan import (
    BINDER_MSA_BATCH_PATTERN,
    SHARD_NAME_PATTERN,
    binder_msa_batch,
    build_plan,
)
from omtx_hub.routing import stored_shard_constraint
from omtx_hub.scheduler import check_shard_gpus
from omtx_hub.sheet import SheetError
from omtx_hub.store import LocalStore, StoreError, open_store
from omtx_hub.vm_preflight import check_vm_setup, pulled_image, vm_sides_of
from omtx_hub.weights import CacheError, prepare_cache

# The process that plans the run (not a job's). The config is checked against the pydantic
# models (omtx_hub.config), whose messages name each bad key and what to do; the JSON Schema
# in workflow/schemas/ is generated from them for editors and other tools.
PLANS = workflow.is_main_process
# True where the jobs run on machines of their own, which see only the default storage and
# git-tracked sources (the Google Batch profile). The executor itself is not known while the
# workflow is parsed; the storage provider is.
PLANS_REMOTE_JOBS = PLANS and bool(workflow.storage_settings.default_storage_provider)

try:
    SCREEN_CONFIG = load_config(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
if PLANS:
    for line in receptor_warnings(SCREEN_CONFIG):
        logger.warning(line)
SCREEN = SCREEN_CONFIG.screen.name
PROTEINS = {protein.name: protein for protein in SCREEN_CONFIG.proteins}
# The predict rule's `retries`: a failed shard job runs again (1 + retries times at most).
SHARD_RETRIES = SCREEN_CONFIG.sharding.attempts - 1
# Where the run's results go: the directory snakemake runs in, or the default storage.
RESULTS_ROOT = workflow.storage_settings.default_storage_prefix or str(Path.cwd())
PLAN = None
if PLANS:
    try:
        if PLANS_REMOTE_JOBS:
            check_config_files_shipped(workflow.configfiles, Path.cwd())
            check_remote_storage(
                SCREEN_CONFIG,
                workflow.storage_settings.default_storage_provider,
                workflow.storage_settings.default_storage_prefix,
                Path.cwd(),
            )
        if any(p.receptor.server_chains() for p in SCREEN_CONFIG.proteins):
            # The MSA fetch reads its credentials itself; a mistake in them stops the plan here.
            MsaCredentials.from_environment()
        STORE = open_store(SCREEN_CONFIG.store)
        # A run with runtime.msa_refresh asks the server again: the store's MSAs are not the
        # ones its targets will have.
        PLAN = build_plan(
            SCREEN_CONFIG, STORE, fetching_msas_anew=SCREEN_CONFIG.runtime.msa_refresh
        )
        # The results of a remote run are in the default storage, where its jobs read the plan.
        RESULTS_LOCATION = (
            open_store(RESULTS_ROOT) if PLANS_REMOTE_JOBS else LocalStore(Path.cwd())
        )
        if PLAN.pending_binder_msas:
            # As for a receptor's: the fetch job reads them, a mistake stops the plan here.
            MsaCredentials.from_environment()
        if PLANS_REMOTE_JOBS:
            check_sources_shipped(PLAN.binder_msa_files(), Path.cwd())
        PLAN.write(RESULTS_LOCATION)
    except (ConfigError, SheetError, CredentialError, StoreError) as error:
        raise WorkflowError(str(error)) from None
    for protein in PLAN.pending_msas:
        logger.info(
            f"Protein {protein}: its MSA is asked from {SCREEN_CONFIG.runtime.msa_server_url} "
            "by fetch_msa first (then kept in the result store for later screens); the keys "
            "of its targets, which contain the MSA's sha256, are known after that."
        )
    for batch in PLAN.pending_binder_msas:
        logger.info(
            f"Shards {batch}: the MSAs of their `msa: server` binders are asked from "
            f"{SCREEN_CONFIG.runtime.msa_server_url} by fetch_binder_msas first (then kept in "
            "the result store for later screens); the keys of their targets, which contain "
            "the MSAs' sha256, are known after that."
        )
    # The failures the store records for the screen's targets (omtx_hub.failures), and
    # those a run predicts again.
    FAILURES = screen_failures(PLAN, STORE)
    FAILURES_TO_RETRY = worth_retrying(
        FAILURES, retry_permanent=SCREEN_CONFIG.runtime.retry_failed
    )
    for (protein, shard), failed in shards_to_retry(
        PLAN, STORE, FAILURES_TO_RETRY
    ).items():
        logger.info(
            f"Shard {protein}/{shard} runs again for {len(failed)} target(s) whose "
            f"prediction failed before: {failed[0].error}"
        )
if PLANS_REMOTE_JOBS:
    # Before the executor is created: plugin 0.5.1 ends the run on a transient status error;
    # a failure that would repeat on every VM stops the run (omtx_hub.cloud_failures).
    retry_status_polls(logger.warning)
    fail_fast()
    honour_internal_ip_only()


wildcard_constraints:
    screen=SCREEN,
    protein="|".join(PROTEINS),
    shard=SHARD_NAME_PATTERN,
    batch=BINDER_MSA_BATCH_PATTERN,


def check_before_start():
    """When a real run starts (not -n, not a no-op): what the store holds under an older key
    scheme, the Google Batch setup of the jobs about to be submitted, that no secret is passed
    to them, the cost of the pending work against cost.budget_usd, then Boltz's cache, once
    for all the shards that will predict on this machine (`prepare_boltz_cache`)."""
    # Snakemake gives a rule of --preemptible-rules (the Google Batch profile's predict
    # rule) --preemptible-retries instead of its `retries` (snakemake/rules.py,
    # Rule.restart_times): sharding.attempts decides there too. (The settings are set
    # after the workflow is parsed.)
    given = workflow.remote_execution_settings.preemptible_retries
    if given is not None and given != SHARD_RETRIES:
        logger.warning(
            f"--preemptible-retries {given} is replaced by sharding.attempts "
            f"{SCREEN_CONFIG.sharding.attempts} (that many attempts of each shard in all)"
        )
    workflow.remote_execution_settings.preemptible_retries = SHARD_RETRIES
    older_schemes = older_scheme_report(PLAN, STORE)
    if older_schemes:
        logger.warning(older_schemes)
    try:
        if workflow.non_local_exec:
            check_secrets_stay_local(
                [*workflow.remote_execution_settings.envvars, *workflow.envvars]
            )
        if workflow.executor_plugin.name == "googlebatch":
            check_batch_jobs(
                workflow.executor_settings,
                [
                    (job.rule.name, job.resources)
                    for job in workflow.dag.needrun_jobs()
                    if not job.is_local
                ],
            )
            gcs_settings = workflow.storage_provider_settings["gcs"].get_settings(None)
            buckets = [
                SCREEN_CONFIG.store,
                workflow.storage_settings.default_storage_prefix,
            ]
            check_bucket_access(buckets, user_project=gcs_settings.project)
            check_vm_side_before_start(buckets)
        if workflow.executor_plugin.name == "slurm":
            check_shard_gpus(
                SCREEN_CONFIG.runtime.accelerator,
                [
                    job.resources.get("gpu", 0)
                    for job in workflow.dag.needrun_jobs()
                    if job.rule.name == "boltz_predict_shard"
                ],
                "slurm",
            )
        if SCREEN_CONFIG.cost.budget_usd is not None or workflow.non_local_exec:
            retries = workflow.get_rule("boltz_predict_shard").restart_times
            pending = estimate(PLAN, stored_target_keys(), attempts=1 + retries)
            logger.info(f"Cost of this run:\n{pending.describe(SCREEN_CONFIG.cost)}")
            check_budget(pending, SCREEN_CONFIG.cost)
        prepare_boltz_cache()
    except CacheError as error:
        # Before any job, so that a cache that cannot be completed fails the run once
        # (a shard would fail the same way on every retry).
        raise WorkflowError(f"{error}\nNo job was started.") from None
    except (ConfigError, CredentialError) as error:
        raise WorkflowError(str(error)) from None


# The digest of each image the VMs pull, as the registry named it when the run started (for
# the canaries).
PLANNED_IMAGE_DIGESTS = {}


def check_vm_side_before_start(buckets):
    """What the Google APIs show of the VMs' side of the GPU jobs about to be submitted
    (omtx_hub.vm_preflight); what they cannot show is left to the canary."""
    gpu_jobs = [
        job.resources
        for job in workflow.dag.needrun_jobs()
        if job.rule.name == "boltz_predict_shard"
    ]
    if not gpu_jobs:
        return
    vms = vm_sides_of(
        workflow.executor_settings,
        gpu_jobs,
        buckets=sorted({bucket_of(url, "bucket") for url in buckets}),
        preemptible=workflow.remote_execution_settings.preemptible_rules.is_preemptible(
            "boltz_predict_shard"
        ),
    )
    found = check_vm_setup(vms)
    PLANNED_IMAGE_DIGESTS.update(found.image_digests)
    for unchecked in found.unchecked:
        logger.warning(
            f"Not checked before submitting (left to the canary): {unchecked}"
        )


def shards_run_here():
    """Whether shards run on this machine, with its files: not on machines of their own
    (Google Batch, Slurm) or in the container image, whose cache each job checks itself.
    """
    return not workflow.non_local_exec and (
        DeploymentMethod.APPTAINER not in workflow.deployment_settings.deployment_method
    )


def prepare_boltz_cache():
    """Boltz's cache complete and checked (omtx_hub.weights.prepare_cache: downloaded once,
    with progress, when files are missing), if a Boltz-2 shard of this run will predict
    here: one of a Boltz-2 protein whose targets are not all in the result store. Chai-1's
    downloads were checked when the screen was planned (omtx_hub.chai1.chai1_weights):
    nothing is downloaded for its proteins."""
    if not shards_run_here() or "boltz2" not in SCREEN_CONFIG.engines:
        return
    stored = stored_target_keys()
    predicting = [
        job
        for job in workflow.dag.needrun_jobs()
        if job.rule.name == "boltz_predict_shard"
        and SCREEN_CONFIG.engine_of(job.wildcards.protein) == "boltz2"
        and not all(
            key in stored
            for key in PLAN.shard_keys(job.wildcards.protein, job.wildcards.shard)
        )
    ]
    if predicting:
        prepare_cache(
            SCREEN_CONFIG.runtime,
            affinity=SCREEN_CONFIG.model.affinity,
            rehash=True,
            progress=logger.info,
        )


onstart:
    # (A job's own process runs no hooks: Snakemake spawns it with --no-hooks.)
    if PLANS:
        check_before_start()


def notify_run_finished(succeeded, log):
    """The completion callback ($OMTX_NOTIFY_URL), sent once, by the planning process;
    `log` is the run's log files."""
    if not (PLANS and os.environ.get(NOTIFY_URL_VARIABLE)):
        return
    message = run_finished_message(
        screen=SCREEN,
        succeeded=succeeded,
        results_root=RESULTS_ROOT,
        targets=PLAN.target_count,
        targets_in_store=len(PLAN.stored_keys(STORE)),
        log_files=list(log),
    )
    if send(message):
        logger.info(f"Run {message['status']}: notified {NOTIFY_URL_VARIABLE}")


onsuccess:
    if PLANS:
        for line in finished_run_lines(SCREEN, RESULTS_ROOT):
            logger.info(line)
    notify_run_finished(True, log)


onerror:
    if PLANS and run_stopped_by():
        # The one message that says why the run stopped, last on the terminal.
        logger.error(run_stopped_by().message)
    notify_run_finished(False, log)


@functools.cache
def stored_target_keys():
    """The screen's targets already in the result store, looked up once per run."""
    return PLAN.stored_keys(STORE)


@functools.cache
def stored_shards():
    """The shards assemble_stored_shard (predict.smk) makes: those whose every target is in
    the result store, or failed permanently and is not to be retried. Only PLANS_REMOTE_JOBS
    looks: there it saves a GPU VM per such shard; a local run gains nothing, and remote
    jobs are told which rule to run."""
    if not PLANS_REMOTE_JOBS:
        return frozenset()
    failed_for_good = FAILURES.keys() - FAILURES_TO_RETRY.keys()
    return frozenset(PLAN.stored_shards(stored_target_keys() | failed_for_good))


@functools.cache
def engine_canaries():
    """Engine -> the shard a remote run runs alone before that engine's others
    (omtx_hub.canary): the first of its shards with a target to predict; none for a local
    run, with sharding.canary off, or where no shard needs a GPU (a rerun of a finished
    screen runs no canary)."""
    if not (PLANS_REMOTE_JOBS and SCREEN_CONFIG.sharding.canary):
        return {}
    return canary_shards(PLAN.shards, stored_shards(), SCREEN_CONFIG.engine_of)


def canary_report_file(shard):
    return layout.CANARY.format(screen=SCREEN, protein=shard[0], shard=shard[1])


def canary_reports(wildcards=None):
    """Every canary's report (the target `all` asks for them too, as a screen with one shard
    to predict has no other shard to wait for its canary)."""
    return [canary_report_file(shard) for shard in engine_canaries().values()]


def canary_input(wildcards):
    """Every other shard that needs a GPU waits for its engine's canary's report, where the
    run has canaries. (Its time reruns nothing: a later canary of the same screen does not
    rerun finished shards.)"""
    shard = (wildcards.protein, wildcards.shard)
    canary = engine_canaries().get(SCREEN_CONFIG.engine_of(wildcards.protein))
    if canary is None or shard == canary or shard in stored_shards():
        return []
    return ancient(canary_report_file(canary))


def pending_after_canary(wildcards):
    """The targets each other shard of the canary's engine has to predict, for the canary's
    estimate of them (the other engine's shards are its own canary's to estimate)."""
    stored = stored_target_keys()
    canary = (wildcards.protein, wildcards.shard)
    engine = SCREEN_CONFIG.engine_of(wildcards.protein)
    return [
        sum(key not in stored for key in PLAN.shard_keys(*name))
        for name in PLAN.shards
        if name != canary
        and name not in stored_shards()
        and SCREEN_CONFIG.engine_of(name[0]) == engine
    ]


def for_each_shard(pattern):
    """An input function: a rule's output `pattern` filled in for every shard of the screen
    (evaluated by the planning process only)."""

    def every_shard(wildcards):
        return [
            pattern.format(screen=SCREEN, protein=protein, shard=shard)
            for protein, shard in PLAN.shards
        ]

    return every_shard


def consensus_structures(wildcards):
    """The exported structures of the `consensus` pairs' proteins, which aggregation compares
    (omtx_hub.screen_consensus); none for a screen without pairs."""
    paired = {
        name for pair in SCREEN_CONFIG.consensus for name in (pair.boltz2, pair.chai1)
    }
    return [
        layout.SHARD_STRUCTURES.format(screen=SCREEN, protein=protein, shard=shard)
        for protein, shard in PLAN.shards
        if protein in paired
    ]


def for_the_screen(pattern):
    return pattern.format(screen=SCREEN)


def shard_spec_file(wildcards):
    """The shard's spec in the plan (omtx_hub.plan_artifact), which the job executes; written
    only when its content changes, so its time reruns the shard when its targets change. The
    spec of a shard whose protein's server MSA is not known yet (its keys contain the MSA's
    sha256) is written once the fetch_msa checkpoint has run: until then Snakemake holds the
    shard as <TBD>. (Only then: a job that depends on a checkpoint is taken as changed until
    the checkpoint is evaluated, which would make a rerun aggregate again.) Likewise a shard
    with a binder whose server MSA is not known yet, after the fetch_binder_msas checkpoint
    of its batch."""
    protein = wildcards.protein
    if PLAN is not None and protein in PLAN.pending_msas:
        checkpoints.fetch_msa.get(screen=SCREEN, protein=protein)
        PLAN.use_fetched_msa(protein, STORE)
        PLAN.write(RESULTS_LOCATION)
    batch = binder_msa_batch(wildcards.shard)
    if PLAN is not None and batch in PLAN.pending_binder_msas:
        checkpoints.fetch_binder_msas.get(screen=SCREEN, batch=batch)
        PLAN.use_fetched_binder_msas(batch, STORE)
        PLAN.write(RESULTS_LOCATION)
    return layout.SHARD_SPEC.format(
        screen=SCREEN, protein=protein, shard=wildcards.shard
    )


def server_msa_input(wildcards):
    """The directory of server MSAs a shard reads (fetch_msa provides them once per
    receptor), or none when no chain has msa: server. Its content, not its time, decides
    whether the shard runs again: it is in the keys."""
    if not PROTEINS[wildcards.protein].receptor.server_chains():
        return []
    return ancient(layout.MSA.format(screen=SCREEN, protein=wildcards.protein))


def binder_msa_input(wildcards):
    """The record of the fetch_binder_msas job of the shard's batch, where its binders have
    `msa: server`, so that the job runs (and, while the MSAs are not known, at once, beside
    a receptor's fetch_msa) and the screen keeps the MSAs it keyed its targets with. The shard
    reads the MSAs from the store; their content, not the record's time, decides whether it
    runs again: it is in the keys. (A job's own process has no plan: it reads no record.)
    """
    if PLAN is None:
        return []
    batch = binder_msa_batch(wildcards.shard)
    if batch not in PLAN.binder_msa_batches:
        return []
    return ancient(layout.BINDER_MSA_RECORD.format(screen=SCREEN, batch=batch))


def user_files(wildcards):
    """The user's files a shard reads: its receptor's MSA and template files and its binders'
    MSA files. Their content is in the keys, so their time does not rerun the shard. Where
    jobs run on machines of their own (a default storage provider) they are no inputs: they
    reach the jobs with the workflow's sources (git-tracked, checked at planning by
    omtx_hub.cloud.check_sources_shipped): as inputs they would be read from the default
    storage, and marked `local()` they would make Snakemake run the job on the planning
    machine, there being no shared filesystem (snakemake/jobs.py, `Job.is_local`). (A
    job's own process has no plan: its binders' files are not listed.)"""
    if workflow.storage_settings.default_storage_provider:
        return []
    binder_msas = (
        []
        if PLAN is None
        else PLAN.binder_msa_files((wildcards.protein, wildcards.shard))
    )
    return [
        ancient(path)
        for path in PROTEINS[wildcards.protein].receptor.local_files() + binder_msas
    ]


def binder_msa_queries(wildcards):
    """Query id -> [sequence, whose MSA it is] of every `msa: server` binder of the batch
    (one query each). (A job's own process has no plan, and runs no fetch job.)"""
    if PLAN is None:
        return {}
    binders = PLAN.binder_msa_batches[wildcards.batch]
    return {query: list(binder) for query, binder in binders.items()}


def server_msa_sequences(wildcards):
    """Chain id -> sequence of every msa: server chain of the receptor (one query)."""
    return PROTEINS[wildcards.protein].receptor.server_chains()


def job_attempt(wildcards, attempt):
    """Which attempt of the job this is, for the job itself (Snakemake hands it only to
    resource functions): a shard manifest records it, summary.json counts retried shards.
    """
    return attempt


def shard_container(wildcards):
    """The image of a shard job on Google Batch: plugin 0.5.1 takes a job's
    `googlebatch_container` resource before the run's googlebatch-container (`get_container`
    in its executor.py). A Chai-1 protein's shards run in the Chai-1 image (containers/chai1,
    omtx_hub.chai1.chai1_image); a Boltz-2 protein's, and every local run's, in the run's
    (empty: the plugin's choice). A job's own process (on its VM) has no use for it: the
    image is chosen when the job is submitted."""
    if SCREEN_CONFIG.engine_of(wildcards.protein) != "chai1" or not PLANS_REMOTE_JOBS:
        return ""
    return chai1_image(getattr(workflow.executor_settings, "container", None))


def planned_image_digest(wildcards):
    """The digest the registry gave, when the run started, for the image of the shard's
    engine (known once check_vm_side_before_start has run)."""
    image = pulled_image(shard_container(wildcards), workflow.executor_settings)
    return PLANNED_IMAGE_DIGESTS.get(image)


def predict_mem_mb(wildcards, attempt):
    """Host memory for a shard; grows with each retry after an out-of-memory kill."""
    return 16000 * attempt


def purchase_list_output():
    """purchase_list.csv, for a screen with triage rules (config `triage`)."""
    if SCREEN_CONFIG.triage is None:
        return {}
    return {"purchase_list": layout.PURCHASE_LIST}


def selectivity_output():
    """selectivity.csv, for a screen with a selectivity panel (config `selectivity`)."""
    if SCREEN_CONFIG.selectivity is None:
        return {}
    return {
        "selectivity": report(
            layout.SELECTIVITY,
            caption="../report/selectivity.rst",
            category="Results",
        )
    }


def shard_failures(wildcards):
    """The failures worth retrying among the shard's targets (omtx_hub.failures.retry_marks):
    one recorded since the shard's manifest makes Snakemake run the shard again. (A job's own
    process has no plan and runs its shard anyway.)"""
    if PLAN is None or not FAILURES_TO_RETRY:
        return []
    return retry_marks(
        PLAN.shard_keys(wildcards.protein, wildcards.shard), FAILURES_TO_RETRY
    )
