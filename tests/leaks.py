"""Where a secret was written: every file under a directory, archives opened."""

from __future__ import annotations

import gzip
import io
import lzma
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path


def contents(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of a file and, for a zip, tar or gzip/xz file, of everything inside."""
    yield name, data
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield from contents(f"{name}!{member}", archive.read(member))
        return
    for magic, decompress in ((b"\x1f\x8b", gzip.decompress), (b"\xfd7zXZ\x00", lzma.decompress)):
        if data.startswith(magic):
            yield from contents(f"{name}!", decompress(data))
            return
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():
                extracted = archive.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    yield from contents(f"{name}!{member.name}", extracted.read())
    except tarfile.TarError:
        pass


def files_holding(secrets: list[str], blobs: dict[str, bytes]) -> dict[str, list[str]]:
    """Which of `blobs` (name -> bytes), or of the files packed in them, hold which secret."""
    found: dict[str, list[str]] = {}
    for name, data in blobs.items():
        for where, content in contents(name, data):
            for secret in secrets:
                if secret.encode() in content:
                    found.setdefault(secret, []).append(where)
    return found


def files_under(root: Path) -> dict[str, bytes]:
    """Every regular file under `root`, by its path relative to it."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }
