"""The content-addressed result store: one entry per prediction, shared by every screen.

An entry is keyed by everything that determines the prediction (see `omtx_hub.plan.target_key`)
and holds the files Boltz wrote for it plus a normalized `record.json`. Writes are commits:
a reader sees either nothing or a complete entry, never a partial one.

- Local directory: files go to a temporary sibling directory that is renamed into place
  (rename is atomic on POSIX filesystems).
- gs://bucket/prefix: objects are uploaded first and `record.json` last; an entry exists
  only once its `record.json` does, so an interrupted upload is invisible and is redone.

The store also caches validated ligand sheets (`sheets/`), so that remote jobs, which
re-parse the workflow on their own VM, need not re-validate 100,000 SMILES.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RECORD_FILE = "record.json"
# Lookups and listings are one HTTP request each on GCS; this many run at once.
LOOKUP_THREADS = 32
# Listing a fan-out directory returns every entry in it, of every screen; looking up keys one
# by one costs a request per key. Below this many keys per directory, one by one is cheaper.
LIST_MIN_KEYS_PER_FAN_OUT = 4


def fan_out(key: str) -> str:
    """The directory of `targets/` an entry is in: its key's first two hex digits (256)."""
    return key[:2]


def fan_out_path(fan_out_dir: str) -> str:
    """Relative location of a fan-out directory of entries."""
    return f"targets/{fan_out_dir}"


def entry_path(key: str) -> str:
    """Relative location of an entry; the two-character fan-out keeps directories small."""
    return f"{fan_out_path(fan_out(key))}/{key}"


class ResultStore(ABC):
    location: str

    @abstractmethod
    def has(self, key: str) -> bool:
        """Whether a complete entry exists for `key`."""

    @abstractmethod
    def keys_in(self, fan_out_dir: str) -> dict[str, float]:
        """Every complete entry in one fan-out directory (`fan_out`): key -> commit time
        (seconds since the epoch)."""

    def stored(self, keys: Iterable[str]) -> frozenset[str]:
        """Which of `keys` have a complete entry.

        On a bucket every lookup is a request: many keys are found by listing only the
        fan-out directories they fall in (at most 256 listings, whatever the key count),
        a few keys by looking each one up, whichever is fewer requests.
        """
        keys = set(keys)
        directories = {fan_out(key) for key in keys}
        if len(keys) < LIST_MIN_KEYS_PER_FAN_OUT * len(directories):
            ordered = sorted(keys)
            with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
                found = pool.map(self.has, ordered)
                return frozenset(key for key, has in zip(ordered, found, strict=True) if has)
        return frozenset(self.commit_times(keys))

    def commit_times(self, keys: Iterable[str]) -> dict[str, float]:
        """key -> commit time of each of `keys` in the store, from one listing per fan-out
        directory the keys fall in."""
        keys = set(keys)
        directories = sorted({fan_out(key) for key in keys})
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            listed = {}
            for found in pool.map(self.keys_in, directories):
                listed.update(found)
        return {key: listed[key] for key in keys & listed.keys()}

    @abstractmethod
    def blob_names(self, prefix: str) -> list[str]:
        """Names (relative to the store) of the auxiliary objects under `prefix`."""

    @abstractmethod
    def read_record(self, key: str) -> dict:
        """The normalized record of a complete entry."""

    @abstractmethod
    def commit(self, key: str, files: dict[str, Path], record: dict) -> None:
        """Store `files` (name -> local path) and `record` as the entry `key`, atomically."""

    @abstractmethod
    def fetch(self, key: str, name: str, destination: Path) -> None:
        """Copy the file `name` of entry `key` to `destination`."""

    @abstractmethod
    def read_blob(self, name: str) -> bytes | None:
        """A small auxiliary object (e.g. a cached sheet), or None if absent."""

    @abstractmethod
    def write_blob(self, name: str, data: bytes) -> None:
        """Write an auxiliary object atomically."""


class LocalStore(ResultStore):
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.location = str(self.root)

    def _entry(self, key: str) -> Path:
        return self.root / entry_path(key)

    def has(self, key: str) -> bool:
        return (self._entry(key) / RECORD_FILE).is_file()

    def keys_in(self, fan_out_dir: str) -> dict[str, float]:
        directory = self.root / fan_out_path(fan_out_dir)
        if not directory.is_dir():
            return {}
        found = {}
        for entry in os.scandir(directory):
            record = Path(entry.path, RECORD_FILE)
            if not entry.name.startswith(".") and record.is_file():
                found[entry.name] = record.stat().st_mtime
        return found

    def blob_names(self, prefix: str) -> list[str]:
        root = self.root / prefix
        if not root.is_dir():
            return []
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in root.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )

    def read_record(self, key: str) -> dict:
        return json.loads((self._entry(key) / RECORD_FILE).read_text())

    def commit(self, key: str, files: dict[str, Path], record: dict) -> None:
        final = self._entry(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.parent / f".staging-{key}-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            for name, source in files.items():
                shutil.copyfile(source, staging / name)
            (staging / RECORD_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))
            try:
                os.rename(staging, final)
            except OSError:
                if not self.has(key):
                    raise
                # Another job committed the same prediction first; the results are equivalent.
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def fetch(self, key: str, name: str, destination: Path) -> None:
        shutil.copyfile(self._entry(key) / name, destination)

    def read_blob(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def write_blob(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".staging-{path.name}-{uuid.uuid4().hex}")
        staging.write_bytes(data)
        os.replace(staging, path)


class GCSStore(ResultStore):
    """A store in Google Cloud Storage, through google-cloud-storage.

    Credentials come from Application Default Credentials; with STORAGE_EMULATOR_HOST set
    (tests, local emulators) the client talks to the emulator anonymously.
    """

    def __init__(self, url: str, client=None):
        from google.cloud import storage

        bucket_name, _, prefix = url.removeprefix("gs://").partition("/")
        self.location = url
        self.prefix = prefix.strip("/")
        project = os.environ.get("SNAKEMAKE_STORAGE_GCS_PROJECT") or os.environ.get(
            "GOOGLE_CLOUD_PROJECT"
        )
        self.client = client or storage.Client(project=project)
        self.bucket = self.client.bucket(bucket_name)

    def _name(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def has(self, key: str) -> bool:
        return self.bucket.blob(self._name(f"{entry_path(key)}/{RECORD_FILE}")).exists()

    def keys_in(self, fan_out_dir: str) -> dict[str, float]:
        # Only the commit markers: an entry whose upload was interrupted has none.
        blobs = self.client.list_blobs(
            self.bucket,
            prefix=self._name(f"{fan_out_path(fan_out_dir)}/"),
            match_glob=f"**/{RECORD_FILE}",
            fields="items(name,timeCreated),nextPageToken",
        )
        # (The name check keeps that true where matchGlob is not honoured.)
        return {
            blob.name.rsplit("/", 2)[-2]: blob.time_created.timestamp()
            for blob in blobs
            if blob.name.endswith(f"/{RECORD_FILE}")
        }

    def blob_names(self, prefix: str) -> list[str]:
        start = len(self._name(""))
        blobs = self.client.list_blobs(
            self.bucket, prefix=self._name(prefix), fields="items(name),nextPageToken"
        )
        return sorted(blob.name[start:] for blob in blobs)

    def read_record(self, key: str) -> dict:
        blob = self.bucket.blob(self._name(f"{entry_path(key)}/{RECORD_FILE}"))
        return json.loads(blob.download_as_bytes())

    def commit(self, key: str, files: dict[str, Path], record: dict) -> None:
        for name, source in files.items():
            self.bucket.blob(self._name(f"{entry_path(key)}/{name}")).upload_from_filename(
                str(source)
            )
        # The record goes last: it is the commit marker that `has` looks for.
        self.bucket.blob(self._name(f"{entry_path(key)}/{RECORD_FILE}")).upload_from_string(
            json.dumps(record, indent=1, sort_keys=True), content_type="application/json"
        )

    def fetch(self, key: str, name: str, destination: Path) -> None:
        blob = self.bucket.blob(self._name(f"{entry_path(key)}/{name}"))
        blob.download_to_filename(str(destination))

    def read_blob(self, name: str) -> bytes | None:
        blob = self.bucket.blob(self._name(name))
        return blob.download_as_bytes() if blob.exists() else None

    def write_blob(self, name: str, data: bytes) -> None:
        self.bucket.blob(self._name(name)).upload_from_string(data)


def open_store(location: str) -> ResultStore:
    if location.startswith("gs://"):
        return GCSStore(location)
    return LocalStore(location)
