"""The content-addressed result store: one entry per prediction, shared by every screen.

An entry is keyed by everything that determines the prediction (see `omtx_hub.plan.target_key`)
and holds the files Boltz wrote for it plus a normalized `record.json`. Writes are commits:
a reader sees either nothing or a complete entry, never a partial one.

- Local directory: files go to a temporary sibling directory that is renamed into place
  (rename is atomic on POSIX filesystems).
- gs://bucket/prefix: objects are uploaded first and `record.json` last; an entry exists
  only once its `record.json` does, so an interrupted upload is invisible and is redone.
  Every request retries transient faults (429, 5xx, dropped connections, timeouts) with
  backoff, for a bounded time, and then fails naming the object.

Every entry is sealed at commit: `record.json` lists each stored file's sha256 and size
(`files`) and the sha256 of the record itself (`record_sha256`). Reading an entry checks the
seal; an entry that fails it (a file missing, truncated or altered, the record edited or cut
short) is never served: `CorruptEntry` names the entry, the file and what is wrong, and the
reader moves the entry aside (`quarantine`) and recomputes it. Entries written before the
seal (no `record_sha256`) are served as they are ("legacy"); `omtx-hub store verify` counts
them. docs/reliability.md, "Corrupt store entries".

The store also caches validated ligand sheets (`sheets/`), so that remote jobs, which
re-parse the workflow on their own VM, need not re-validate 100,000 SMILES.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import random
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from omtx_hub.fileio import sha256_bytes, sha256_file, write_atomically
from omtx_hub.store_layout import (
    QUARANTINE_REASON_FILE,
    RECORD_FILE,
    TARGETS_DIR,
    entry_path,
    fan_out,
    fan_out_path,
    quarantine_path,
)

log = logging.getLogger(__name__)

# The seal's fields in record.json; a committed record may not use these names itself.
FILES_FIELD = "files"
RECORD_HASH_FIELD = "record_sha256"
# Lookups and listings are one HTTP request each on GCS; this many run at once.
LOOKUP_THREADS = 32
# Listing a fan-out directory returns every entry in it, of every screen; looking up keys one
# by one costs a request per key. Below this many keys per directory, one by one is cheaper.
LIST_MIN_KEYS_PER_FAN_OUT = 4
# How often a bucket commit is redone when its read-back finds another writer's files mixed in.
COMMIT_ROUNDS = 4
# Each bucket request: retried for this long in all (backoff from 1 s, doubling to 30 s between
# tries), each try given (connect, read) seconds. A job whose store is unreachable for longer
# fails, and Snakemake's retry of the job starts over.
RETRY_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = (10.0, 60.0)


class StoreError(RuntimeError):
    """A store request failed after its retries; the message names the object."""


@dataclass(frozen=True)
class Problem:
    """What is wrong with one file of an entry."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


class CorruptEntry(Exception):
    """An entry that fails its seal: never served, to be recomputed."""

    def __init__(self, location: str, key: str, problems: list[Problem]):
        self.key = key
        self.problems = problems
        super().__init__(
            f"store entry {key} in {location} is corrupt (" + "; ".join(map(str, problems)) + ")"
        )


@dataclass(frozen=True)
class Inspection:
    """An entry as read: its record as committed (without the seal; None when unreadable),
    what is wrong with it, and whether it predates the seal (nothing could be checked)."""

    record: dict | None
    problems: list[Problem]
    legacy: bool = False

    @property
    def sound(self) -> bool:
        return self.record is not None and not self.problems


def canonical_json(value: dict) -> bytes:
    """The bytes `record_sha256` is taken over: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def file_seal(path: Path) -> dict:
    """A stored file's entry in `files`: its sha256 and size."""
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def sealed(record: dict, files: dict[str, dict]) -> bytes:
    """The record.json of an entry: `record`, its files' seals and the record's own hash."""
    clash = {FILES_FIELD, RECORD_HASH_FIELD} & record.keys()
    if clash:
        raise ValueError(f"a stored record may not have the field(s) {sorted(clash)}")
    content = {**record, FILES_FIELD: files}
    content[RECORD_HASH_FIELD] = sha256_bytes(canonical_json(content))
    return json.dumps(content, indent=1, sort_keys=True).encode()


def file_problems(name: str, data: bytes | None, seal: dict) -> list[Problem]:
    if data is None:
        return [Problem(name, "missing")]
    if len(data) != seal["bytes"]:
        what = "truncated" if len(data) < seal["bytes"] else "grown"
        return [Problem(name, f"{what}: {len(data)} bytes, {seal['bytes']} recorded at commit")]
    if sha256_bytes(data) != seal["sha256"]:
        return [Problem(name, "altered: its sha256 is not the one recorded at commit")]
    return []


def unseal(key: str, raw: bytes | None) -> tuple[dict | None, dict | None, list[Problem]]:
    """(record, files' seals, problems) of an entry's record.json; the seals are None for a
    legacy record (no `record_sha256`)."""
    if raw is None:
        return None, None, [Problem(RECORD_FILE, "missing")]
    try:
        content = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, None, [Problem(RECORD_FILE, "not valid JSON (truncated or damaged)")]
    if not isinstance(content, dict):
        return None, None, [Problem(RECORD_FILE, "not a JSON object")]
    if RECORD_HASH_FIELD not in content:
        return content, None, []
    claimed = content.pop(RECORD_HASH_FIELD)
    if sha256_bytes(canonical_json(content)) != claimed:
        return None, None, [Problem(RECORD_FILE, "edited: its content does not match its seal")]
    files = content.pop(FILES_FIELD, None)
    if not isinstance(files, dict):
        return None, None, [Problem(RECORD_FILE, "sealed without its files")]
    if content.get("key", key) != key:
        return None, None, [Problem(RECORD_FILE, f"is the record of another key, {content['key']}")]
    return content, files, []


class ResultStore(ABC):
    location: str

    @abstractmethod
    def has(self, key: str) -> bool:
        """Whether a committed entry exists for `key` (its record.json; not checked)."""

    @abstractmethod
    def keys_in(self, fan_out_dir: str) -> dict[str, float]:
        """Every committed entry in one fan-out directory (`fan_out`): key -> commit time
        (seconds since the epoch)."""

    @abstractmethod
    def all_keys(self) -> list[str]:
        """Every committed entry of the store."""

    def stored(self, keys: Iterable[str]) -> frozenset[str]:
        """Which of `keys` have a committed entry.

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
    def blob_md5s(self, prefix: str) -> dict[str, str]:
        """name -> md5 (hex) of the content of every auxiliary object under `prefix` (one
        listing on a bucket, which keeps each object's md5)."""

    @abstractmethod
    def read_entry_file(self, key: str, name: str) -> bytes | None:
        """The bytes of one file of entry `key` as stored (unchecked), or None if absent."""

    def inspect(self, key: str) -> Inspection:
        """Read entry `key` whole and check it against its seal."""
        record, files, problems = unseal(key, self.read_entry_file(key, RECORD_FILE))
        if files is None:
            return Inspection(record, problems, legacy=record is not None)
        for name, seal in sorted(files.items()):
            problems += file_problems(name, self.read_entry_file(key, name), seal)
        return Inspection(record, problems)

    def read_record(self, key: str) -> dict:
        """The record of entry `key` as committed, once the whole entry has passed its seal;
        `CorruptEntry` if it does not."""
        inspection = self.inspect(key)
        if not inspection.sound:
            raise CorruptEntry(self.location, key, inspection.problems)
        return inspection.record

    @abstractmethod
    def commit(self, key: str, files: dict[str, Path], record: dict) -> None:
        """Store `files` (name -> local path) and `record` as the entry `key`, atomically and
        sealed. An entry already there that passes its seal is kept (the same prediction,
        committed first by another job); one that fails it is quarantined and replaced."""

    def fetch(self, key: str, name: str, destination: Path) -> None:
        """Copy the file `name` of entry `key` to `destination`, checked against the seal:
        `CorruptEntry` (and no file at `destination`) if it does not match."""
        record, files, problems = unseal(key, self.read_entry_file(key, RECORD_FILE))
        if record is None:
            raise CorruptEntry(self.location, key, problems)
        if files is not None and name not in files:
            raise FileNotFoundError(f"store entry {key} in {self.location} has no file {name}")
        try:
            copied = self._copy_entry_file(key, name, destination)
        except BaseException:
            destination.unlink(missing_ok=True)  # never a part of the file in its place
            raise
        if not copied:
            raise CorruptEntry(self.location, key, [Problem(name, "missing")])
        if files is None:
            return
        problems = file_problems(name, destination.read_bytes(), files[name])
        if problems:
            destination.unlink()
            raise CorruptEntry(self.location, key, problems)

    @abstractmethod
    def _copy_entry_file(self, key: str, name: str, destination: Path) -> bool:
        """Copy one file of an entry, unchecked; False if it is absent."""

    @abstractmethod
    def quarantine(self, key: str, problems: list[Problem]) -> str:
        """Move entry `key` aside, under quarantine/, with the reasons; where it went. The
        entry is then no longer in the store, so its target is computed again."""

    @abstractmethod
    def read_blob(self, name: str) -> bytes | None:
        """A small auxiliary object (e.g. a cached sheet), or None if absent."""

    @abstractmethod
    def has_blob(self, name: str) -> bool:
        """Whether the auxiliary object `name` exists (nothing is downloaded)."""

    @abstractmethod
    def write_blob(self, name: str, data: bytes) -> None:
        """Write an auxiliary object atomically."""


def inspect_all(store: ResultStore) -> dict[str, Inspection]:
    """Every committed entry of `store`, read whole and checked (`omtx-hub store verify`)."""
    keys = store.all_keys()
    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        return dict(zip(keys, pool.map(store.inspect, keys), strict=True))


def quarantine_reason(key: str, problems: list[Problem]) -> str:
    return (
        f"store entry {key} was moved here because it failed its seal:\n"
        + "".join(f"  {problem}\n" for problem in problems)
        + "Its target is computed again by the next screen that needs it.\n"
    )


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

    def all_keys(self) -> list[str]:
        targets = self.root / TARGETS_DIR
        if not targets.is_dir():
            return []
        return sorted(
            key for directory in targets.iterdir() for key in self.keys_in(directory.name)
        )

    def blob_names(self, prefix: str) -> list[str]:
        root = self.root / prefix
        if not root.is_dir():
            return []
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in root.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )

    def blob_md5s(self, prefix: str) -> dict[str, str]:
        return {
            name: hashlib.md5((self.root / name).read_bytes(), usedforsecurity=False).hexdigest()
            for name in self.blob_names(prefix)
        }

    def read_entry_file(self, key: str, name: str) -> bytes | None:
        try:
            return (self._entry(key) / name).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def commit(self, key: str, files: dict[str, Path], record: dict) -> None:
        final = self._entry(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.parent / f".staging-{key}-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            for name, source in files.items():
                shutil.copyfile(source, staging / name)
            seals = {name: file_seal(staging / name) for name in files}
            (staging / RECORD_FILE).write_bytes(sealed(record, seals))
            self._install(key, staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _install(self, key: str, staging: Path, final: Path) -> None:
        """Rename the staged entry into place, unless a sound entry is there already."""
        for _ in range(COMMIT_ROUNDS):
            try:
                os.rename(staging, final)
                return
            except OSError:
                existing = self.inspect(key)
                if existing.sound:
                    return  # Another job committed the same prediction first.
                if final.exists():
                    self.quarantine(key, existing.problems)
        os.rename(staging, final)

    def _copy_entry_file(self, key: str, name: str, destination: Path) -> bool:
        try:
            shutil.copyfile(self._entry(key) / name, destination)
        except FileNotFoundError:
            return False
        return True

    def quarantine(self, key: str, problems: list[Problem]) -> str:
        destination = self.root / quarantine_path(key)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(self._entry(key), destination)
        except FileNotFoundError:
            return str(destination)  # another reader moved it first
        (destination / QUARANTINE_REASON_FILE).write_text(quarantine_reason(key, problems))
        log.warning(
            "moved store entry %s to %s: %s", key, destination, "; ".join(map(str, problems))
        )
        return str(destination)

    def read_blob(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def has_blob(self, name: str) -> bool:
        return (self.root / name).is_file()

    def write_blob(self, name: str, data: bytes) -> None:
        write_atomically(self.root / name, data)


def default_retry():
    """google-cloud-storage's retry policy (429, 5xx, dropped connections and timeouts),
    bounded to RETRY_TIMEOUT_S."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(RETRY_TIMEOUT_S).with_delay(
        initial=1.0, multiplier=2.0, maximum=30.0
    )


class GCSStore(ResultStore):
    """A store in Google Cloud Storage, through google-cloud-storage.

    Credentials come from Application Default Credentials; with STORAGE_EMULATOR_HOST set
    (tests, local emulators) the client talks to the emulator anonymously. Every request is
    made with `retry` (default: `default_retry()`) and `timeout` (seconds, or (connect, read)).
    """

    def __init__(self, url: str, client=None, retry=None, timeout=REQUEST_TIMEOUT_S):
        from google.cloud import storage

        bucket_name, _, prefix = url.removeprefix("gs://").partition("/")
        self.location = url
        self.prefix = prefix.strip("/")
        project = os.environ.get("SNAKEMAKE_STORAGE_GCS_PROJECT") or os.environ.get(
            "GOOGLE_CLOUD_PROJECT"
        )
        self.client = client or storage.Client(project=project)
        self.bucket = self.client.bucket(bucket_name)
        self.retry = retry or default_retry()
        self.timeout = timeout

    def _name(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _entry_name(self, key: str, name: str) -> str:
        return self._name(f"{entry_path(key)}/{name}")

    def _request(self, what: str, name: str, call):
        """`call()` (one google-cloud-storage call, made with self.retry and self.timeout);
        once its retries are spent, a StoreError naming the object. NotFound passes through."""
        from google.api_core.exceptions import GoogleAPIError, NotFound
        from google.auth.exceptions import TransportError
        from google.resumable_media import DataCorruption, InvalidResponse
        from requests import RequestException

        try:
            return call()
        except NotFound:
            raise
        except (
            GoogleAPIError,
            TransportError,
            DataCorruption,
            InvalidResponse,
            RequestException,
            ConnectionError,
        ) as error:
            budget = f"for up to {self.retry.timeout:g} s" if self.retry.timeout else "without end"
            raise StoreError(
                f"{what} gs://{self.bucket.name}/{name} failed, retried {budget}: "
                f"{type(error).__name__}: {error}"
            ) from error

    def _calls(self) -> dict:
        return {"retry": self.retry, "timeout": self.timeout}

    def has(self, key: str) -> bool:
        name = self._entry_name(key, RECORD_FILE)
        return self._request(
            "looking up", name, lambda: self.bucket.blob(name).exists(**self._calls())
        )

    def _list(self, prefix: str, **options) -> list:
        from google.api_core.exceptions import NotFound

        try:
            return self._request(
                "listing",
                f"{prefix}*",
                lambda: list(
                    self.client.list_blobs(self.bucket, prefix=prefix, **options, **self._calls())
                ),
            )
        except NotFound as error:  # no such bucket
            raise StoreError(f"listing gs://{self.bucket.name}/{prefix}* failed: {error}") from None

    def _committed(self, prefix: str) -> dict[str, float]:
        # Only the commit markers: an entry whose upload was interrupted has none.
        blobs = self._list(
            prefix,
            match_glob=f"**/{RECORD_FILE}",
            fields="items(name,timeCreated),nextPageToken",
        )
        # (The name check keeps that true where matchGlob is not honoured.)
        return {
            blob.name.rsplit("/", 2)[-2]: blob.time_created.timestamp()
            for blob in blobs
            if blob.name.endswith(f"/{RECORD_FILE}")
        }

    def keys_in(self, fan_out_dir: str) -> dict[str, float]:
        return self._committed(self._name(f"{fan_out_path(fan_out_dir)}/"))

    def all_keys(self) -> list[str]:
        return sorted(self._committed(self._name(f"{TARGETS_DIR}/")))

    def blob_names(self, prefix: str) -> list[str]:
        start = len(self._name(""))
        blobs = self._list(self._name(prefix), fields="items(name),nextPageToken")
        return sorted(blob.name[start:] for blob in blobs)

    def blob_md5s(self, prefix: str) -> dict[str, str]:
        start = len(self._name(""))
        blobs = self._list(self._name(prefix), fields="items(name,md5Hash),nextPageToken")
        return {
            blob.name[start:]: base64.b64decode(blob.md5_hash).hex()
            for blob in blobs
            if blob.md5_hash
        }

    def _download(self, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self._request(
                "downloading",
                name,
                lambda: self.bucket.blob(name).download_as_bytes(**self._calls()),
            )
        except NotFound:
            return None

    def read_entry_file(self, key: str, name: str) -> bytes | None:
        return self._download(self._entry_name(key, name))

    def _upload(self, name: str, upload) -> None:
        # An upload retried after a lost answer writes the same bytes again: safe to repeat.
        self._request("uploading", name, lambda: upload(self.bucket.blob(name)))

    def commit(self, key: str, files: dict[str, Path], record: dict) -> None:
        content = sealed(record, {name: file_seal(Path(source)) for name, source in files.items()})
        record_name = self._entry_name(key, RECORD_FILE)
        problems: list[Problem] = []
        for _ in range(COMMIT_ROUNDS):
            existing = self.inspect(key)
            if existing.sound:
                return  # committed (by another job, or by this one's round before)
            for name, source in files.items():
                self._upload(
                    self._entry_name(key, name),
                    lambda blob, source=source: blob.upload_from_filename(
                        str(source), **self._calls()
                    ),
                )
            # The record goes last: it is the commit marker that `has` looks for.
            self._upload(
                record_name,
                lambda blob: blob.upload_from_string(
                    content, content_type="application/json", **self._calls()
                ),
            )
            # Read back: a job committing the same key at the same moment may have mixed its
            # files with these; then the entry is committed again, whole.
            problems = self.inspect(key).problems
            if not problems:
                return
            log.warning(
                "commit of %s read back another writer's files (%s): committing again",
                key,
                "; ".join(map(str, problems)),
            )
            time.sleep(random.uniform(0.1, 1.0))
        raise StoreError(
            f"committing gs://{self.bucket.name}/{record_name}: the entry read back did not "
            f"match after {COMMIT_ROUNDS} tries ({'; '.join(map(str, problems))})"
        )

    def _copy_entry_file(self, key: str, name: str, destination: Path) -> bool:
        from google.api_core.exceptions import NotFound

        object_name = self._entry_name(key, name)
        try:
            self._request(
                "downloading",
                object_name,
                lambda: self.bucket.blob(object_name).download_to_filename(
                    str(destination), **self._calls()
                ),
            )
        except NotFound:
            destination.unlink(missing_ok=True)  # (the client creates it before asking)
            return False
        return True

    def quarantine(self, key: str, problems: list[Problem]) -> str:
        from google.api_core.exceptions import NotFound

        prefix = self._name(f"{entry_path(key)}/")
        moved_to = self._name(quarantine_path(key))
        blobs = self._list(prefix, fields="items(name),nextPageToken")
        if not blobs:
            return f"gs://{self.bucket.name}/{moved_to}"  # another reader moved it first
        for blob in blobs:
            target = f"{moved_to}/{blob.name[len(prefix) :]}"
            try:
                self._request(
                    "copying",
                    blob.name,
                    lambda blob=blob, target=target: self.bucket.copy_blob(
                        blob, self.bucket, target, **self._calls()
                    ),
                )
            except NotFound:
                continue  # another reader moved it first
        reason = f"{moved_to}/{QUARANTINE_REASON_FILE}"
        self._upload(
            reason,
            lambda blob: blob.upload_from_string(quarantine_reason(key, problems), **self._calls()),
        )
        # The record first: the entry stops being one before its files go.
        for blob in sorted(blobs, key=lambda blob: not blob.name.endswith(f"/{RECORD_FILE}")):
            with contextlib.suppress(NotFound):
                self._request("deleting", blob.name, lambda blob=blob: blob.delete(**self._calls()))
        location = f"gs://{self.bucket.name}/{moved_to}"
        log.warning("moved store entry %s to %s: %s", key, location, "; ".join(map(str, problems)))
        return location

    def read_blob(self, name: str) -> bytes | None:
        return self._download(self._name(name))

    def has_blob(self, name: str) -> bool:
        object_name = self._name(name)
        return self._request(
            "looking up",
            object_name,
            lambda: self.bucket.blob(object_name).exists(**self._calls()),
        )

    def write_blob(self, name: str, data: bytes) -> None:
        self._upload(self._name(name), lambda blob: blob.upload_from_string(data, **self._calls()))


def open_store(location: str) -> ResultStore:
    if location.startswith("gs://"):
        return GCSStore(location)
    return LocalStore(location)
