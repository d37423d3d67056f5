"""The container images' Dockerfiles, read statically (no Docker engine in the tests)."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Every image under containers/, each built by cloudbuild.yaml with _IMAGE set to its name.
IMAGES = ("boltz", "chai1")
# The job guard both images load through BASH_ENV, at the path they copy it to.
GUARD = REPO / "containers/common/job-guard.sh"
GUARD_IN_IMAGE = "/opt/omtx-hub/job-guard.sh"


def dockerfile(image: str) -> Path:
    return REPO / "containers" / image / "Dockerfile"


def instructions(image: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments left out."""
    text = dockerfile(image).read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in lines]


def build_args(image: str) -> dict[str, str]:
    return {
        name: value
        for kind, rest in instructions(image)
        if kind == "ARG"
        for name, _, value in [rest.partition("=")]
    }


def environment(image: str) -> dict[str, str]:
    """The image's ENV, with ${ARG} references replaced by the build args' defaults."""
    args = build_args(image)
    env: dict[str, str] = {}
    for kind, rest in instructions(image):
        if kind == "ENV":
            for assignment in shlex.split(rest):
                name, _, value = assignment.partition("=")
                env[name] = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), value)
    return env


def in_build_context(path: str) -> bool:
    """Whether .dockerignore lets `path` (relative to the repository root) into the build
    context: the last pattern that matches the path or one of its parent folders decides, a
    `!` pattern letting it in, as Docker reads the file (the plain patterns used there)."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for pattern in patterns:
        exception = pattern.startswith("!")
        if any(fnmatch.fnmatchcase(p, pattern.lstrip("!")) for p in prefixes):
            included = exception
    return included
