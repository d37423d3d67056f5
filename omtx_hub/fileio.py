"""File primitives every layer uses, defined once: a file's sha256 and writes that readers
never see half done."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BLOCK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's content, read in blocks (checkpoints are gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def replaced_atomically(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of `path` to write to; when the block ends without an error it
    replaces `path` (a rename in one directory, atomic on POSIX), else it is removed and
    `path` is untouched. Readers see the old file or the new one, never a part."""
    path = Path(path)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        yield staging
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def write_atomically(path: str | Path, data: bytes | str) -> None:
    """Write `data` to `path` as one step for readers (`replaced_atomically`); its directory
    is created if needed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as staging:
        if isinstance(data, str):
            staging.write_text(data, encoding="utf-8")
        else:
            staging.write_bytes(data)
