"""Counting the HTTP requests a google-cloud-storage client sends: what a store operation costs
against a bucket, for the store lookup benchmark and its tests."""

from __future__ import annotations

import threading


class RequestCounter:
    """Counts the responses `client` (a google.cloud.storage.Client) receives; thread-safe, as
    lookups run in parallel. Set `count` to 0 to start again."""

    def __init__(self, client):
        self.count = 0
        self._lock = threading.Lock()
        client._http.hooks["response"].append(self._seen)

    def _seen(self, response, *args, **kwargs):
        with self._lock:
            self.count += 1
