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
"""

from __future__ import annotations

import io
import tarfile
import threading
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


class FakeMsaServer:
    """The server's state: what it was asked (`submissions`: endpoint, mode, sequences;
    `requests`: method, path and headers of every request, e.g. to see credentials arrive)
    and how it answers (`depth`, `variant`, `wrong_query`)."""

    def __init__(self, depth: int = 3):
        self.depth = depth
        self.variant = 0
        # A broken server: the alignment's first row is not the submitted sequence.
        self.wrong_query = False
        self.submissions: list[dict] = []
        self.requests: list[dict] = []
        self._jobs: dict[str, tuple[str, list[str]]] = {}
        self._lock = threading.Lock()
        self.url = ""

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

    def submit(self, endpoint: str, form: dict[str, list[str]]) -> str:
        query = form["q"][0]
        sequences = [line for line in query.splitlines() if line and not line.startswith(">")]
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
        def _record(self) -> None:
            server_state.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers)}
            )

        def _reply(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self._record()
            endpoint = self.path.strip("/").removeprefix("ticket/")
            length = int(self.headers["Content-Length"])
            form = parse_qs(self.rfile.read(length).decode())
            job = server_state.submit(endpoint, form)
            self._reply(f'{{"status": "COMPLETE", "id": "{job}"}}'.encode(), "application/json")

        def do_GET(self):
            self._record()
            if self.path.startswith("/result/download/"):
                job = self.path.rsplit("/", 1)[1]
                self._reply(server_state.archive(job), "application/gzip")
            else:
                self._reply(b'{"status": "COMPLETE"}', "application/json")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()
