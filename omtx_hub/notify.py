"""Completion callbacks: when a run ends, a JSON POST to the URL in $OMTX_NOTIFY_URL.

Sent by the process that planned the run (Snakemake's onsuccess / onerror handlers). The
message carries the screen's counts and where its results and dashboard are, e.g.

    {"event": "omtx-hub.run-finished", "screen": "s1", "status": "succeeded",
     "counts": {... summary.json's counts ...}, "targets": 3, "targets_in_store": 3,
     "results": "gs://bucket/omtx-hub/results/s1",
     "dashboard": "gs://bucket/omtx-hub/results/s1/report/index.html", "logs": [...]}

A notification that cannot be delivered is logged and never fails the run.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request

from omtx_hub import layout
from omtx_hub.credentials import NOTIFY_URL_VARIABLE, redact_url
from omtx_hub.store import open_store

TIMEOUT_S = 10

log = logging.getLogger(__name__)


def run_finished_message(
    *,
    screen: str,
    succeeded: bool,
    results_root: str,
    targets: int,
    targets_in_store: int,
    log_files: list[str],
) -> dict:
    """The message for a run of `screen` whose outputs are under `results_root` (the working
    directory, or the default storage prefix of a cloud run)."""
    results = _under(results_root, layout.SCREEN_DIR.format(screen=screen))
    # After a failure, summary.json may be missing or left by an earlier run.
    summary = open_store(results_root).read_blob(layout.SUMMARY.format(screen=screen))
    return {
        "event": "omtx-hub.run-finished",
        "screen": screen,
        "status": "succeeded" if succeeded else "failed",
        "counts": json.loads(summary)["counts"] if succeeded and summary else None,
        "targets": targets,
        "targets_in_store": targets_in_store,
        "results": results,
        "dashboard": _under(results_root, _dashboard(screen)),
        "logs": log_files,
    }


def finished_run_lines(screen: str, results_root: str) -> list[str]:
    """What a run that ends well prints last: where the screen's dashboard and result files
    are (those that exist: a run of some shards only has none)."""
    results = open_store(results_root)
    files = [
        ("dashboard", _dashboard(screen)),
        ("ranked results", layout.TABLE.format(screen=screen)),
        ("summary", layout.SUMMARY.format(screen=screen)),
        ("selectivity", layout.SELECTIVITY.format(screen=screen)),
    ]
    found = [(what, path) for what, path in files if results.has_blob(path)]
    if not found:
        return []
    width = max(len(what) for what, _ in found)
    return [f"Screen '{screen}' is done:"] + [
        f"  {what:<{width}}  {_under(results_root, path)}" for what, path in found
    ]


def _dashboard(screen: str) -> str:
    return f"{layout.REPORT.format(screen=screen)}/index.html"


def _under(results_root: str, path: str) -> str:
    return f"{results_root.rstrip('/')}/{path}"


def send(message: dict, url: str | None = None) -> bool:
    """POST `message` as JSON to `url` (default: $OMTX_NOTIFY_URL); whether it was delivered."""
    url = url or os.environ.get(NOTIFY_URL_VARIABLE)
    if not url:
        return False
    request = urllib.request.Request(
        url,
        data=json.dumps(message).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S):
            return True
    except (urllib.error.URLError, OSError) as error:
        # The URL may carry a token (a Slack or Teams webhook's path, a query parameter).
        log.warning("could not notify %s of the run's end: %s", redact_url(url), error)
        return False
