"""Counting requests to Cloud Storage at the HTTP boundary (omtx_hub.testing.http_requests),
which the rerun benchmark (benchmarks/rerun_requests.py) prints."""

from __future__ import annotations

import json

import pytest
import requests

from omtx_hub.testing.http_requests import CloudStorageRequests, request_kind

API = "http://127.0.0.1:9023/storage/v1/b/bucket"
DOWNLOAD = "http://127.0.0.1:9023/download/storage/v1/b/bucket"
UPLOAD = "http://127.0.0.1:9023/upload/storage/v1/b/bucket"


@pytest.mark.parametrize(
    ("method", "url", "kind"),
    [
        ("GET", f"{API}/o?prefix=omtx-hub/results/s1/&prettyPrint=false", "listing"),
        ("GET", f"{API}/o/omtx-hub%2Fresults%2Fs1%2Fsummary.json?fields=name", "object metadata"),
        ("GET", f"{DOWNLOAD}/o/a.json?alt=media", "object content"),
        ("GET", f"{API}?fields=name", "bucket metadata"),
        ("POST", f"{UPLOAD}/o?uploadType=multipart", "upload"),
        ("DELETE", f"{API}/o/a.json", "other (DELETE)"),
    ],
)
def test_each_request_is_told_by_its_kind(method, url, kind):
    assert request_kind(method, url) == kind


def test_a_listing_counts_the_pages_real_cloud_storage_would_need(monkeypatch):
    """The emulator answers 2,500 objects in one response; real GCS needs 3 pages."""

    def answer(session, request, **kwargs):
        response = requests.Response()
        response.status_code = 200
        items = [{"name": f"o{n}"} for n in range(2500 if "/o?" in request.url else 0)]
        response._content = json.dumps({"items": items}).encode()
        return response

    monkeypatch.setattr(requests.Session, "send", answer)
    with CloudStorageRequests() as sent, requests.Session() as session:
        session.get(f"{API}/o?prefix=x/")
        session.get(f"{API}/o/x")
    assert sent.by_caller() == {"other": {"listing": 1, "object metadata": 1}}
    assert (sent.total, sent.pages["other"]) == (2, 4)
    assert requests.Session.send is answer  # put back on leaving
