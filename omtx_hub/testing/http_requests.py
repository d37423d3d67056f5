"""Counting the HTTP requests google-cloud-storage clients send: what a store operation, or a
whole rerun with its storage plugin, costs against a bucket, for the store lookup and rerun
benchmarks and their tests."""

from __future__ import annotations

import math
import re
import sys
import threading
from collections import Counter
from urllib.parse import parse_qs, urlsplit


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


# Real Cloud Storage answers a listing in pages of at most this many objects.
GCS_PAGE = 1000


def request_kind(method: str, url: str) -> str:
    """What a JSON API request to Cloud Storage asks: a listing, an object's content or
    metadata, a bucket's metadata, an upload, or something else."""
    path = urlsplit(url).path
    query = parse_qs(urlsplit(url).query)
    if method == "POST" and "/upload/" in path:
        return "upload"
    if method != "GET":
        return f"other ({method})"
    if re.search(r"/b/[^/]+/o$", path):
        return "listing"
    if re.search(r"/b/[^/]+/o/.", path):
        return "object content" if query.get("alt") == ["media"] else "object metadata"
    if re.search(r"/b/[^/]+$", path):
        return "bucket metadata"
    return "other (GET)"


class CloudStorageRequests:
    """Counts every request any google-cloud-storage client in this process sends while it is
    entered (it wraps `requests.Session.send`, which the clients of Snakemake's storage plugin
    and of omtx_hub.store both use), by who sent it (the first package of `CALLERS` on the
    call stack) and kind (`request_kind`), and the pages real Cloud Storage would need: one
    per request, a listing one per GCS_PAGE objects it returned (an emulator answers a
    listing in one page, whatever its length)."""

    CALLERS = {"snakemake_storage_plugin_gcs": "storage plugin", "omtx_hub": "omtx_hub"}

    def __init__(self):
        self.kinds: Counter[tuple[str, str]] = Counter()  # (caller, kind) -> requests
        self.pages: Counter[str] = Counter()  # caller -> pages on real Cloud Storage
        self._lock = threading.Lock()
        self._send = None

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    def by_caller(self) -> dict[str, Counter[str]]:
        """caller -> kind -> requests."""
        callers: dict[str, Counter[str]] = {}
        for (caller, kind), count in sorted(self.kinds.items()):
            callers.setdefault(caller, Counter())[kind] = count
        return callers

    def __enter__(self):
        import requests

        self._send = send = requests.Session.send
        seen = self._seen

        def counted(session, request, **kwargs):
            response = send(session, request, **kwargs)
            seen(request.method, request.url, response, _caller(sys._getframe(1)))
            return response

        requests.Session.send = counted
        return self

    def __exit__(self, *exc):
        import requests

        requests.Session.send = self._send

    def _seen(self, method: str, url: str, response, caller: str) -> None:
        kind = request_kind(method, url)
        pages = 1
        if kind == "listing" and response.ok:
            pages = max(1, math.ceil(len(response.json().get("items", [])) / GCS_PAGE))
        with self._lock:
            self.kinds[caller, kind] += 1
            self.pages[caller] += pages


def _caller(frame) -> str:
    """Who made the call that led to `frame`: the first of CloudStorageRequests.CALLERS
    whose code is on the stack, innermost first."""
    while frame is not None:
        package = frame.f_globals.get("__name__", "").partition(".")[0]
        if package in CloudStorageRequests.CALLERS:
            return CloudStorageRequests.CALLERS[package]
        frame = frame.f_back
    return "other"
