"""A ColabFold-compatible MMseqs2 MSA server on 127.0.0.1, for tests without the internet.

Boltz's client (`boltz.data.msa.mmseqs2.run_mmseqs2`, called by `boltz.main.compute_msa`)
takes its server from `host_url` (`runtime.msa_server_url` here), so the genuine client runs
against this server: it submits the sequences (`POST /ticket/msa`, or `/ticket/pair` for the
paired alignment of several chains), polls `/ticket/<id>` while the job is not COMPLETE, and
downloads `/result/download/<id>`, a tar.gz of the a3m files ColabFold's API returns
(`uniref.a3m` and `bfd.mgnify30.metaeuk30.smag30.a3m`, or `pair.a3m`). Each query's block
starts with its `>101`-style header; blocks of several queries are separated by a NUL byte.

The alignment it returns is synthetic: the query and `depth` variants of it, each with one
residue changed (and `variant` shifting which, so that a test can make the server answer
differently the next time).

It can also misbehave (`FakeMsaServer.add_fault`), as a real server or the proxy in front of it
does: answer an HTTP error (500, 503) with an HTML page, rate-limit (HTTP 429 with ColabFold's
`{"status": "RATELIMIT"}`), or answer slowly, on every request or only on submissions, status
polls or downloads, for every query or only for one holding a given sequence, a number of
times or always.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from omtx_hub.testing.loopback import serving

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
# Two of the requests of Boltz's client (boltz/data/msa/mmseqs2.py, run_mmseqs2): it submits,
# polls while the job is not COMPLETE (this server's jobs are complete at once), downloads.
SUBMIT, DOWNLOAD = "submit", "download"


@dataclass
class Fault:
    """How the server misbehaves on the requests it matches.

    `kind`: 'error' (HTTP `status` with an HTML page, as a failing server or proxy sends),
    'ratelimit' (HTTP 429 with `{"status": "RATELIMIT"}`, ColabFold's rate-limit answer) or
    'slow' (the normal answer after `delay_s`). `on`: SUBMIT, DOWNLOAD or None (both).
    `sequence`: only requests of a query that holds it (None: all). `times`: how many
    requests it spoils (None: every one).
    """

    kind: str
    status: int = 503
    delay_s: float = 0.0
    on: str | None = None
    sequence: str | None = None
    times: int | None = 1

    def matches(self, request: str, sequences: list[str]) -> bool:
        return (
            self.times != 0
            and self.on in (None, request)
            and (self.sequence is None or self.sequence in sequences)
        )


class FakeMsaServer:
    """The server's state: what it was asked (`submissions`: endpoint, mode, sequences;
    `downloads`: the sequences of every MSA it handed out; `requests`: method, path, headers
    and the fault applied, if any, of every request, e.g. to see credentials arrive) and how
    it answers (`depth`, `variant`, `wrong_query`, `faults`)."""

    def __init__(self, depth: int = 3):
        self.depth = depth
        self.variant = 0
        # A broken server: the alignment's first row is not the submitted sequence.
        self.wrong_query = False
        self.faults: list[Fault] = []
        self.submissions: list[dict] = []
        self.downloads: list[list[str]] = []
        self.requests: list[dict] = []
        self._jobs: dict[str, tuple[str, list[str]]] = {}
        self._lock = threading.Lock()
        self.url = ""

    def add_fault(self, kind: str, **settings) -> Fault:
        fault = Fault(kind, **settings)
        self.faults.append(fault)
        return fault

    def fault_for(self, request: str, sequences: list[str]) -> Fault | None:
        """The first fault that matches the request, counted as used."""
        with self._lock:
            fault = next((f for f in self.faults if f.matches(request, sequences)), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
            return fault

    def job_sequences(self, job: str) -> list[str]:
        return self._jobs.get(job, ("", []))[1]

    def fetched(self, sequence: str) -> int:
        """How many times an MSA for a query holding `sequence` was downloaded."""
        return sum(sequence in sequences for sequences in self.downloads)

    def hits(self, query: str) -> list[str]:
        hits = []
        for number in range(1, self.depth + 1):
            position = (number * 7 + self.variant) % len(query)
            replacement = AMINO_ACIDS[(AMINO_ACIDS.find(query[position]) + number) % 20]
            hits.append(query[:position] + replacement + query[position + 1 :])
        return hits

    def _a3m(self, sequences: list[str], *, hits: bool) -> bytes:
        blocks = []
        for number, query in enumerate(sequences, start=101):
            lines = [f">{number}", query[::-1] if self.wrong_query else query]
            for index, hit in enumerate(self.hits(query) if hits else []):
                lines += [f">hit{index}", hit]
            blocks.append("\n".join(lines) + "\n")
        return "\x00".join(blocks).encode()

    def archive(self, job: str) -> bytes:
        endpoint, sequences = self._jobs[job]
        # The hits in the first file; the environmental databases' file holds only the
        # queries (which Boltz drops as duplicates).
        files = (
            {"pair.a3m": True}
            if endpoint == "pair"
            else {"uniref.a3m": True, "bfd.mgnify30.metaeuk30.smag30.a3m": False}
        )
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, hits in files.items():
                data = self._a3m(sequences, hits=hits)
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    @staticmethod
    def query_sequences(form: dict[str, list[str]]) -> list[str]:
        query = form["q"][0]
        return [line for line in query.splitlines() if line and not line.startswith(">")]

    def submit(self, endpoint: str, form: dict[str, list[str]]) -> str:
        sequences = self.query_sequences(form)
        job = uuid.uuid4().hex
        with self._lock:
            self.submissions.append(
                {"endpoint": endpoint, "mode": form.get("mode", [""])[0], "sequences": sequences}
            )
            self._jobs[job] = (endpoint, sequences)
        return job


@contextmanager
def fake_msa_server(depth: int = 3):
    """Yield a running FakeMsaServer; its `url` is the `msa_server_url` to give Boltz."""
    server_state = FakeMsaServer(depth)

    class Handler(BaseHTTPRequestHandler):
        def _record(self, fault: Fault | None) -> None:
            server_state.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "fault": None if fault is None else fault.kind,
                }
            )

        def _reply(self, body: bytes, content_type: str, status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _misbehave(self, request: str, sequences: list[str]) -> bool:
            """Apply the matching fault, if any; True when it was the whole answer."""
            fault = server_state.fault_for(request, sequences)
            self._record(fault)
            if fault is None:
                return False
            if fault.kind == "slow":
                time.sleep(fault.delay_s)
                return False
            if fault.kind == "ratelimit":
                self._reply(json.dumps({"status": "RATELIMIT"}).encode(), "application/json", 429)
            else:
                page = f"<html><body><h1>{fault.status} (fake MSA server)</h1></body></html>"
                self._reply(page.encode(), "text/html", fault.status)
            return True

        def do_POST(self):
            endpoint = self.path.strip("/").removeprefix("ticket/")
            length = int(self.headers["Content-Length"])
            form = parse_qs(self.rfile.read(length).decode())
            if self._misbehave(SUBMIT, server_state.query_sequences(form)):
                return
            job = server_state.submit(endpoint, form)
            self._reply(f'{{"status": "COMPLETE", "id": "{job}"}}'.encode(), "application/json")

        def do_GET(self):
            job = self.path.rsplit("/", 1)[1]
            sequences = server_state.job_sequences(job)
            if self.path.startswith("/result/download/"):
                if self._misbehave(DOWNLOAD, sequences):
                    return
                archive = server_state.archive(job)
                with server_state._lock:
                    server_state.downloads.append(sequences)
                self._reply(archive, "application/gzip")
            else:
                self._record(None)
                self._reply(b'{"status": "COMPLETE"}', "application/json")

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # A client that gave up on a slow answer closed the connection: expected.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    with serving(Handler, Server) as url:
        server_state.url = url
        yield server_state
