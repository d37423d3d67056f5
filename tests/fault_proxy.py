"""A fault-injecting HTTP proxy on the loopback interface, in front of the GCS emulator.

Each request is forwarded to the upstream server unless a scheduled fault matches it; every
fault is scheduled a bounded number of times, so retries get through in the end:

- "429", "500", "503": answer with that status (the request is not forwarded);
- "drop": close the connection without an answer (the request is not forwarded);
- "drop-after": forward the request (it takes effect), then close without an answer;
- "truncate": forward, then send the headers and half the body and close (a cut download);
- "slow": wait `delay_s` before forwarding and answering (longer than the client's timeout).

`hits` lists the faults as they were injected: (fault, method, path).
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

FAULTS = ("429", "500", "503", "drop", "drop-after", "truncate", "slow")
# Not passed on: the proxy answers each request on a connection of its own.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Fault:
    kind: str
    remaining: int
    skip: int
    path_contains: str
    method: str | None
    delay_s: float


class FaultProxy:
    def __init__(self, upstream: str):
        target = urlparse(upstream)
        self.upstream = (target.hostname, target.port)
        self.faults: list[Fault] = []
        self.hits: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        path_contains: str = "",
        method: str | None = None,
        skip: int = 0,
        delay_s: float = 2.0,
    ) -> None:
        """Inject `kind` into the next `count` requests whose path contains `path_contains`
        (and whose method is `method`, if given), after letting `skip` of them through."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        with self._lock:
            self.faults.append(Fault(kind, count, skip, path_contains, method, delay_s))

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.hits.clear()

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (
                    fault.remaining > 0
                    and fault.path_contains in path
                    and fault.method in (None, method)
                ):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.remaining -= 1
                    self.hits.append((fault.kind, method, path))
                    return fault
        return None

    def _forward(self, method: str, path: str, headers, body: bytes):
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        forwarded = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        connection.request(method, path, body=body or None, headers=forwarded)
        response = connection.getresponse()
        answer = (response.status, response.getheaders(), response.read())
        connection.close()
        return answer

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *arguments):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                self.close_connection = True
                fault = proxy._take(self.command, self.path)
                kind = fault.kind if fault else None
                if kind in ("429", "500", "503"):
                    message = f"injected {kind}".encode()
                    self.send_response(int(kind))
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(message)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(message)
                    return
                if kind == "drop":
                    return
                if kind == "slow":
                    time.sleep(fault.delay_s)
                status, headers, answer = proxy._forward(
                    self.command, self.path, self.headers, body
                )
                if kind == "drop-after":
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Connection", "close")
                self.end_headers()
                # (A client that gave up waiting for a slow answer is gone.)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(answer[: len(answer) // 2] if kind == "truncate" else answer)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        return Handler

    @contextmanager
    def running(self):
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
