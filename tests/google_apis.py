"""A fake of the Google APIs omtx_hub.vm_preflight reads: a project set up as
docs/google-batch.md says (the jobs' service account with every role, the image pushed, Spot
L4 quota, the `default` network), which a test changes to the mistake it checks."""

from __future__ import annotations

import re

from omtx_hub.vm_preflight import COMPUTE, CRM, NEEDED_ROLES, REGISTRY, STORAGE, NotAllowed

PROJECT_NUMBER = "123456789"
SERVICE_ACCOUNT = f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com"


def policy(roles, member=SERVICE_ACCOUNT) -> dict:
    return {"bindings": [{"role": role, "members": [f"serviceAccount:{member}"]} for role in roles]}


class FakeGoogleApis:
    def __init__(self):
        roles = {
            scope: [r for s, r, _ in NEEDED_ROLES if s == scope] for scope, _, _ in NEEDED_ROLES
        }
        # (pattern of the URL, answer: JSON, None for 404, or an exception to raise)
        self.answers: dict[str, object] = {
            rf"{CRM}/projects/[^/:]+": {"projectNumber": PROJECT_NUMBER},
            rf"{CRM}/projects/[^/]+:getIamPolicy": policy(roles["project"]),
            rf"{STORAGE}/b/[^/]+/iam": policy(roles["bucket"]),
            rf"{REGISTRY}/projects/[^/]+/locations/[^/]+/repositories/[^/]+:getIamPolicy": policy(
                roles["repository"]
            ),
            rf"{REGISTRY}/projects/.+/packages/.+/tags/.+": {
                "name": "tag",
                "version": "projects/p/locations/l/repositories/r/packages/boltz/versions/"
                f"sha256:{'ab' * 32}",
            },
            rf"{COMPUTE}/projects/[^/]+/regions/[^/]+": {
                "quotas": [{"metric": "PREEMPTIBLE_NVIDIA_L4_GPUS", "limit": 3.0, "usage": 0.0}]
            },
            rf"{COMPUTE}/projects/[^/]+/global/networks/[^/]+": {"name": "default"},
            rf"{COMPUTE}/projects/[^/]+/regions/[^/]+/subnetworks/[^/]+": {
                "privateIpGoogleAccess": True
            },
        }
        self.urls: list[str] = []

    def answer(self, pattern: str, value) -> FakeGoogleApis:
        """Answer URLs of this pattern (a key of `answers`, or a new one) with `value`."""
        others = {key: answer for key, answer in self.answers.items() if key != pattern}
        self.answers = {pattern: value, **others}
        return self

    def _call(self, url: str):
        self.urls.append(url)
        for pattern, value in self.answers.items():
            if re.fullmatch(pattern, url):
                if isinstance(value, Exception):
                    raise value
                return value
        raise AssertionError(f"no fake answer for {url}")

    get = post = _call


__all__ = ["FakeGoogleApis", "NotAllowed", "policy"]
