"""Server MSAs: asked from the MSA server once per receptor and kept in the result store.

`msa: server` asks the ColabFold MMseqs2 server through Boltz's own client
(`boltz.main.compute_msa`), as `boltz predict --use_msa_server` would, once per receptor: all
its `server` chains in one query, paired across chains (`--msa_pairing_strategy`) when there
are several, one csv per chain whose `key` column pairs rows across chains. The MSA is kept in
the result store, content-addressed by the chains' sequences, the server and the pairing
strategy (`server_msa_id`), and later screens take it from there. A server that needs
credentials gets them from the environment (omtx_hub.credentials), never from the config.

A binder screen's `msa: server` binder is a query of its own sequence alone
(`binder_query_id`, unpaired: omtx_hub.binders says why), stored as a one-chain receptor's
MSA is; the fetch_binder_msas job asks for those of a batch of shards
(`write_binder_server_msas`), and the shard job reads each from the store
(`stored_binder_msa`).

A failing server is retried within a bounded time (`fetch_server_msas`, `runtime.msa_timeout_s`).
Boltz's client (`run_mmseqs2` in boltz/data/msa/mmseqs2.py) retries by itself only two things:
a request that raises (no connection, no answer within its 6.02 s timeout) is sent again 5 s
later, up to 6 tries, before it raises "Too many failed attempts"; and while the server answers
`{"status": "RATELIMIT"}` or `UNKNOWN` (with any HTTP status) it resubmits every 5-10 s,
without limit. An HTTP error whose body is not JSON (a 500 or 503 page) reads as status
`ERROR` and raises at once ("MMseqs2 API is giving errors ..."), as does `MAINTENANCE`; a
download's HTTP status is not checked, so an error page is saved as the result archive and
fails to unpack. Each of those ends one attempt here: the whole query is asked again after
5 s, 10 s, 20 s, ... (at most `MAX_RETRY_WAIT_S`), as long as the next attempt starts before
the deadline, and an attempt still running at the deadline (Boltz waiting out a rate limit or
retrying a silent server) is cut off there. So the retries do not multiply: all of them, both
layers', fit in the one time bound.
"""

from __future__ import annotations

import json
import logging
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from omtx_hub.config import MSA_TIMEOUT_S, Runtime
from omtx_hub.credentials import MsaCredentials
from omtx_hub.fileio import sha256_bytes, write_atomically
from omtx_hub.keys import server_msa_id, server_msa_identity
from omtx_hub.msa_files import query_mismatch
from omtx_hub.store import ResultStore
from omtx_hub.store_layout import SERVER_MSA_OBJECT, server_msa_chain_file, server_msa_path

log = logging.getLogger(__name__)
FIRST_RETRY_WAIT_S = 5.0
MAX_RETRY_WAIT_S = 300.0


@dataclass(frozen=True)
class StoredServerMsa:
    """A server MSA in the store (`msa/<query id>/msa.json`, written after its files)."""

    query_id: str
    record: dict

    @property
    def chain_sha256(self) -> list[str]:
        return [chain["sha256"] for chain in self.record["chains"]]

    def identity(self, chain: int) -> str:
        return server_msa_identity(self.chain_sha256[chain])


def stored_server_msa(store: ResultStore, query_id: str) -> StoredServerMsa | None:
    """The store's server MSA of `query_id`, its record checked against its seal (a damaged
    one is moved aside and read as none: the MSA is fetched again); its chain files are
    checked when they are read (`provide_server_msas`)."""
    record = store.read_object(SERVER_MSA_OBJECT, query_id).content
    return None if record is None else StoredServerMsa(query_id, record)


class MsaServerError(RuntimeError):
    """The MSA server gave no MSA within the time allowed."""


class _OutOfTime(BaseException):
    """Ends an attempt at the deadline. A BaseException: Boltz's client catches every
    Exception of a request to retry it (`run_mmseqs2`), and must not catch this."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _OutOfTime in the main thread after `seconds` (SIGALRM interrupts a sleep or a
    socket read); elsewhere no limit, the attempts' count and waits still bounded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def out_of_time(signum, frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _ClientLog(logging.Handler):
    """The last warning or error Boltz's client logged: what the server said (an HTML error
    page, 'Sleeping for 7s. Reason: RATELIMIT', a timeout), which its exception omits."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


@contextmanager
def _client_log() -> Iterator[_ClientLog]:
    client = logging.getLogger("boltz.data.msa.mmseqs2")
    handler = _ClientLog()
    client.addHandler(handler)
    try:
        yield handler
    finally:
        client.removeHandler(handler)


def _ask_once(
    sequences: list[str], server_url: str, pairing_strategy: str, credentials: MsaCredentials
) -> list[bytes]:
    from boltz.main import compute_msa

    with tempfile.TemporaryDirectory(prefix="omtx-msa-") as scratch:
        names = [str(index) for index in range(len(sequences))]
        compute_msa(
            dict(zip(names, sequences, strict=True)),
            "receptor",
            Path(scratch),
            server_url,
            pairing_strategy,
            **credentials.compute_msa_arguments(),
        )
        return [(Path(scratch) / f"{name}.csv").read_bytes() for name in names]


def fetch_server_msas(
    sequences: list[str],
    *,
    server_url: str,
    pairing_strategy: str,
    credentials: MsaCredentials,
    timeout_s: float = MSA_TIMEOUT_S,
    owner: str = "the receptor",
) -> list[bytes]:
    """The server's MSA of each chain (Boltz's CSV: columns `key`, `sequence`), from one
    query: with several chains Boltz also asks for paired alignments (`compute_msa`).

    A failed attempt is retried with a doubling wait while the next one starts within
    `timeout_s` of the first; then MsaServerError names `owner` (whose MSA it is: "protein
    'P1'", "binder 'pep7'"), the server and the last error (module docstring: what Boltz's
    client retries itself)."""
    import boltz.main  # noqa: F401 - seconds of imports (torch), not the server's time

    started = time.monotonic()
    deadline = started + timeout_s
    wait = FIRST_RETRY_WAIT_S
    attempt = 0
    while True:
        attempt += 1
        log.info("MSA query to %s (%s), attempt %d", server_url, credentials.describe(), attempt)
        with _client_log() as client:
            try:
                with _time_limit(deadline - time.monotonic()):
                    return _ask_once(sequences, server_url, pairing_strategy, credentials)
            except _OutOfTime:
                error = f"still no MSA when the {timeout_s:g} s were up"
            except Exception as failure:  # noqa: BLE001 - any failure of the client is retried
                error = f"{type(failure).__name__}: {failure}"
        if client.last is not None:
            error += f" (the client's last warning: {client.last})"
        if time.monotonic() + wait >= deadline:
            break
        log.warning(
            "MSA query to %s failed (attempt %d: %s); asking again in %g s",
            server_url,
            attempt,
            error,
            wait,
        )
        time.sleep(wait)
        wait = min(2 * wait, MAX_RETRY_WAIT_S)
    raise MsaServerError(
        f"{owner}: the MSA server {server_url} gave no MSA in "
        f"{time.monotonic() - started:.0f} s ({attempt} attempt{'s' * (attempt > 1)}, "
        f"runtime.msa_timeout_s: {timeout_s:g}); last error: {error}. With --keep-going (every "
        "profile) the shards that do not need this MSA go on; run again when the server "
        "answers (what was predicted is kept), or give it an MSA file or `msa: empty`."
    )


def provide_server_msas(
    store: ResultStore,
    sequences: list[str],
    *,
    server_url: str,
    pairing_strategy: str,
    refresh: bool,
    credentials: MsaCredentials,
    timeout_s: float = MSA_TIMEOUT_S,
    owner: str = "the receptor",
) -> tuple[list[bytes], str]:
    """The server MSA of each chain and where it came from ('store' or 'server').

    Taken from the store when it is there (and `refresh` is off); otherwise fetched, checked
    (each chain's query must be its sequence) and stored, files first and `msa.json` last,
    so that a reader sees a complete MSA or none.
    """
    query_id = server_msa_id(sequences, server_url, pairing_strategy)
    if not refresh:
        # The record and every chain file, checked against the record's sha256 of each: a
        # damaged MSA is moved aside and fetched again.
        stored = store.read_object(SERVER_MSA_OBJECT, query_id, with_files=True)
        if stored.content is not None and len(stored.files) == len(sequences):
            return list(stored.files.values()), "store"
    contents = fetch_server_msas(
        sequences,
        server_url=server_url,
        pairing_strategy=pairing_strategy,
        credentials=credentials,
        timeout_s=timeout_s,
        owner=owner,
    )
    with tempfile.TemporaryDirectory(prefix="omtx-msa-check-") as scratch:
        for index, (sequence, content) in enumerate(zip(sequences, contents, strict=True)):
            fetched = Path(scratch) / server_msa_chain_file(index)
            fetched.write_bytes(content)
            problem = query_mismatch(fetched, sequence)
            if problem is not None:
                raise RuntimeError(
                    f"{owner}: the MSA server {server_url} answered for chain {index} "
                    f"with an MSA Boltz would not use: {problem}"
                )
    store_server_msas(
        store, sequences, contents, server_url=server_url, pairing_strategy=pairing_strategy
    )
    return contents, "server"


def store_server_msas(
    store: ResultStore,
    sequences: list[str],
    contents: list[bytes],
    *,
    server_url: str,
    pairing_strategy: str,
) -> StoredServerMsa:
    """Put a server's MSAs of a receptor's chains into the store: the files first, then
    `msa.json`, which makes them visible (a reader sees a complete MSA or none)."""
    query_id = server_msa_id(sequences, server_url, pairing_strategy)
    for index, content in enumerate(contents):
        store.write_stored(server_msa_path(query_id, server_msa_chain_file(index)), content)
    record = {
        "query_id": query_id,
        "sequences": sequences,
        "server_url": server_url,
        "pairing_strategy": pairing_strategy,
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "boltz": version("boltz"),
        "chains": [
            {
                "file": server_msa_chain_file(index),
                "sha256": sha256_bytes(content),
                "depth": content.count(b"\n"),  # sequences: a header line, then one per row
            }
            for index, content in enumerate(contents)
        ],
    }
    # Sealed, with each chain file's sha256: what a reader checks the files against.
    store.write_object(SERVER_MSA_OBJECT, query_id, record)
    return StoredServerMsa(query_id, record)


def write_server_msas(
    store: ResultStore,
    sequences: list[str],
    outputs: list[Path],
    record_output: Path,
    *,
    server_url: str,
    pairing_strategy: str,
    refresh: bool,
    credentials: MsaCredentials,
    timeout_s: float = MSA_TIMEOUT_S,
    owner: str = "the receptor",
) -> None:
    """The fetch_msa job: each chain's server MSA into its output file and the MSA's record
    (`msa.json` of the store) into `record_output`, from the store or (first use, or
    `refresh`) from the server, and a line in the job log saying which."""
    contents, source = provide_server_msas(
        store,
        sequences,
        server_url=server_url,
        pairing_strategy=pairing_strategy,
        refresh=refresh,
        credentials=credentials,
        timeout_s=timeout_s,
        owner=owner,
    )
    query_id = server_msa_id(sequences, server_url, pairing_strategy)
    record = stored_server_msa(store, query_id).record
    how = (
        f"fetched now from {server_url}"
        if source == "server"
        else f"reused from the result store (fetched from {server_url} at {record['fetched_at']})"
    )
    for output, content, chain in zip(outputs, contents, record["chains"], strict=True):
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(content)
        log.info(
            "MSA of %s (%d sequences, sha256 %s): %s; stored as %s",
            output.name,
            chain["depth"],
            chain["sha256"],
            how,
            server_msa_path(query_id, chain["file"]),
        )
    # This screen's copy of the record also says whether the switch was on, as the job's
    # Snakemake params do (omtx_hub.plan.screen_msa_record).
    record_output.write_text(json.dumps({**record, "msa_refresh": refresh}, indent=1))


def recorded_server_msa(record_file: Path, query_id: str) -> StoredServerMsa | None:
    """The server MSA a screen's fetch_msa job wrote the record of, if that record is there
    and answers `query_id` (the current sequences, server and pairing)."""
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return None
    return StoredServerMsa(query_id, record) if record.get("query_id") == query_id else None


def binder_query_id(sequence: str, runtime: Runtime) -> str:
    """The server MSA id of a binder with `msa: server`: the query of its sequence alone,
    addressed as a one-chain receptor's (`server_msa_id`), so that the two share it."""
    return server_msa_id([sequence], runtime.msa_server_url, runtime.msa_pairing_strategy)


def write_binder_server_msas(
    store: ResultStore,
    binders: dict[str, tuple[str, str]],
    record_output: Path,
    *,
    server_url: str,
    pairing_strategy: str,
    refresh: bool,
    credentials: MsaCredentials,
    timeout_s: float = MSA_TIMEOUT_S,
) -> None:
    """The fetch_binder_msas job: the server MSA of each binder (query id -> (sequence, whose
    it is, for messages)), from the store or (first use, or `refresh`) from the server and
    stored (`provide_server_msas`: one query per sequence, checked, retried within
    `timeout_s`); then `record_output`, each query's MSA by sha256, which the plan keys the
    binders' targets with. One binder at a time: the first the server fails ends the job, so
    a dead server costs one `timeout_s`, not one per binder; those fetched before it are in
    the store, and a rerun asks only for the rest."""
    msas = {}
    for query_id, (sequence, owner) in binders.items():
        (content,), source = provide_server_msas(
            store,
            [sequence],
            server_url=server_url,
            pairing_strategy=pairing_strategy,
            refresh=refresh,
            credentials=credentials,
            timeout_s=timeout_s,
            owner=owner,
        )
        msas[query_id] = {"sequence": sequence, "sha256": sha256_bytes(content)}
        log.info(
            "MSA of %s (%d sequences, sha256 %s): %s; stored as %s",
            owner,
            content.count(b"\n"),
            msas[query_id]["sha256"],
            f"fetched now from {server_url}" if source == "server" else "from the result store",
            server_msa_path(query_id, server_msa_chain_file(0)),
        )
    record = {
        "server_url": server_url,
        "pairing_strategy": pairing_strategy,
        # As the receptor's record (`write_server_msas`): whether the switch was on.
        "msa_refresh": refresh,
        "msas": msas,
    }
    record_output.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(record_output, json.dumps(record, indent=1))


def recorded_binder_msas(record_file: Path, *, fetching_anew: bool) -> dict[str, str]:
    """query id -> MSA sha256 of each binder a screen's fetch_binder_msas job recorded in
    `record_file`; none when there is no record, or when this run fetches anew
    (runtime.msa_refresh) and the record was not itself fetched so (as the receptor's:
    omtx_hub.plan.screen_msa_record)."""
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return {}
    if fetching_anew and not record.get("msa_refresh"):
        return {}
    return {query_id: msa["sha256"] for query_id, msa in record.get("msas", {}).items()}


def stored_binder_msa(store: ResultStore, query_id: str) -> bytes | None:
    """A binder's server MSA (Boltz's csv) as the store holds it, checked against its seal
    (a damaged one is moved aside and read as none); None when it is not there."""
    stored = store.read_object(SERVER_MSA_OBJECT, query_id, with_files=True)
    if stored.content is None or len(stored.files) != 1:
        return None
    return next(iter(stored.files.values()))
