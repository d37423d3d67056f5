"""A ColabFold MMseqs2 server on 127.0.0.1 for tests: the three calls Boltz's client makes
(`boltz/data/msa/mmseqs2.py`: submit a ticket, poll it, download the result), answered at
once with an MSA of the query and one homologue, and every request's headers recorded."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

# The query's number in Boltz's submission (run_mmseqs2 numbers sequences from 101).
QUERY_NUMBER = 101


@dataclass
class MsaServer:
    url: str
    requests: list[dict] = field(default_factory=list)  # method, path, headers of each


def homologue(sequence: str) -> str:
    """The query with its first residue changed: an MSA row that differs from the query."""
    return ("G" if sequence[0] != "G" else "A") + sequence[1:]


def _result_archive(sequence: str) -> bytes:
    """The tar.gz the server returns: the a3m files of mode 'env' (UniRef and environmental)."""
    a3m = f">{QUERY_NUMBER}\n{sequence}\n>homologue_1\n{homologue(sequence)}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("uniref.a3m", "bfd.mgnify30.metaeuk30.smag30.a3m"):
            member = tarfile.TarInfo(name)
            member.size = len(a3m)
            archive.addfile(member, io.BytesIO(a3m))
    return buffer.getvalue()


@contextmanager
def msa_server():
    """Yield an MsaServer that answers Boltz's MSA client and records its requests."""
    queries: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            server.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers)}
            )

        def _json(self, document: dict) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # ticket/msa: the submission
            self._record()
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            ticket = f"ticket-{len(queries)}"
            queries[ticket] = form["q"][0].split("\n")[1]  # '>101\nSEQUENCE\n'
            self._json({"status": "COMPLETE", "id": ticket})

        def do_GET(self):  # ticket/<id> (status) or result/download/<id>
            self._record()
            ticket = self.path.rsplit("/", 1)[-1]
            if not self.path.startswith("/result/download/"):
                self._json({"status": "COMPLETE", "id": ticket})
                return
            body = _result_archive(queries[ticket])
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server = MsaServer(f"http://127.0.0.1:{http.server_port}")
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        http.shutdown()
        http.server_close()
