"""A webhook receiver on 127.0.0.1 for tests: records every JSON POST."""

from __future__ import annotations

import json
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from omtx_hub.testing.loopback import serving


@contextmanager
def webhook_receiver():
    """Yield (url, received): `received` collects the JSON body of each POST."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(
                {
                    "content_type": self.headers["Content-Type"],
                    "body": json.loads(self.rfile.read(length)),
                }
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    with serving(Handler) as url:
        yield f"{url}/hook", received
