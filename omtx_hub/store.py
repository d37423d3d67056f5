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
short, the record of another key) is never served: `CorruptEntry` names the entry, the file
and what is wrong, and the reader moves the entry aside (`quarantine`) and recomputes it.
Entries written before the seal (no `record_sha256`) are served as they are ("legacy") when
their record names their key and is a target record; otherwise they are damaged.
docs/reliability.md, "Corrupt store entries".

Every other object the store keeps (failure records, validated sheets, validated molecules,
server MSAs, molecules' chemistry; `omtx_hub.store_layout.OBJECT_KINDS`) is sealed the same
way: a JSON record that names its kind and key, with the sha256 of its canonical JSON
(`seal_object`). `read_object` checks it against the kind and key it is read as; a damaged
object is reported with its path, moved aside (`quarantine_objects`) and read as absent, so
that its owner computes it again.

A local store never reads or writes through a symbolic link that leads out of it
(`OutsideStore`): such an entry or object is damaged.
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
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from omtx_hub.fileio import sha256_bytes, sha256_file, write_atomically
from omtx_hub.records import TargetRecord
from omtx_hub.store_layout import (
    FAILURE_OBJECT,
    OBJECT_DIRS,
    PARTED_KINDS,
    QUARANTINE_REASON_FILE,
    RECORD_FILE,
    SERVER_MSA_OBJECT,
    STORE_DIRS,
    TARGETS_DIR,
    entry_path,
    fan_out,
    fan_out_path,
    object_at,
    object_path,
    quarantine_path,
    server_msa_chain_file,
    server_msa_path,
)

log = logging.getLogger(__name__)

# The seal's fields in record.json; a committed record may not use these names itself.
FILES_FIELD = "files"
RECORD_HASH_FIELD = "record_sha256"
# A sealed object's kind, besides its `key` (entries have no kind: they are the store's own).
OBJECT_FIELD = "object"
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
    """A store request failed after its retries, or the store cannot be used; the message
    names the object or the store and what to do."""


class OutsideStore(Exception):
    """A local path of the store that leads out of it through a symbolic link."""

    def __init__(self, name: str, target: Path):
        self.name = name
        super().__init__(f"a symbolic link out of the store (to {target}): never followed")


Parsed = TypeVar("Parsed")


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


# The characters of a long text encoded at once when a seal is hashed.
CANONICAL_TEXT_CHUNK = 1 << 20


def _canonical_pieces(value: dict) -> Iterator[str]:
    """`json.dumps(value, sort_keys=True, separators=(",", ":"))` in pieces: a record of text
    keys field by field, a long text field a chunk at a time (JSON escapes each character on
    its own, so the chunks' escapes are the whole text's), any other field at once (by
    json's C encoder)."""
    if not all(isinstance(key, str) for key in value):
        yield json.dumps(value, sort_keys=True, separators=(",", ":"))
        return
    yield "{"
    for number, key in enumerate(sorted(value)):
        yield ("," if number else "") + json.dumps(key) + ":"
        field = value[key]
        if isinstance(field, str) and len(field) > CANONICAL_TEXT_CHUNK:
            yield '"'
            for start in range(0, len(field), CANONICAL_TEXT_CHUNK):
                yield json.dumps(field[start : start + CANONICAL_TEXT_CHUNK])[1:-1]
            yield '"'
        else:
            yield json.dumps(field, sort_keys=True, separators=(",", ":"))
    yield "}"


def canonical_sha256(value: dict) -> str:
    """The sha256 `record_sha256` holds: that of `value` as JSON with sorted keys and no
    whitespace (ASCII), hashed in pieces, so that a large sealed object (a million-row
    validated sheet is one 240 MB text) is never held a second time as that JSON."""
    digest = hashlib.sha256()
    for piece in _canonical_pieces(value):
        digest.update(piece.encode())
    return digest.hexdigest()


def file_seal(path: Path) -> dict:
    """A stored file's entry in `files`: its sha256 and size."""
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def sealed(record: dict, files: dict[str, dict] | None, *, indent: int | None = 1) -> bytes:
    """A sealed record: `record`, its files' seals (an entry's; None for an object, which has
    none) and the record's own hash; written with `indent` (None: compact)."""
    clash = {FILES_FIELD, RECORD_HASH_FIELD} & record.keys()
    if clash:
        raise ValueError(f"a stored record may not have the field(s) {sorted(clash)}")
    content = dict(record) if files is None else {**record, FILES_FIELD: files}
    content[RECORD_HASH_FIELD] = canonical_sha256(content)
    if indent is None:
        return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return json.dumps(content, indent=indent, sort_keys=True).encode()


def seal_object(kind: str, key: str, content: dict) -> bytes:
    """The stored form of an object of `kind` (`omtx_hub.store_layout.OBJECT_KINDS`) under
    `key`: `content` with its kind and key, sealed."""
    if content.get("key", key) != key or OBJECT_FIELD in content:
        raise ValueError(f"a {kind} sealed as {key} may not have its own key or kind")
    # A part of thousands of molecules, written whole at each change and read by the program
    # only, is written compact: json's C encoder, where indenting takes its pure-Python one
    # (at 10^6 new molecules, 4 times the CPU, several seconds of planning).
    indent = None if kind in PARTED_KINDS else 1
    return sealed({**content, "key": key, OBJECT_FIELD: kind}, None, indent=indent)


def file_problems(name: str, data: bytes | None, seal: dict) -> list[Problem]:
    if data is None:
        return [Problem(name, "missing")]
    if len(data) != seal["bytes"]:
        what = "truncated" if len(data) < seal["bytes"] else "grown"
        return [Problem(name, f"{what}: {len(data)} bytes, {seal['bytes']} recorded at commit")]
    if sha256_bytes(data) != seal["sha256"]:
        return [Problem(name, "altered: its sha256 is not the one recorded at commit")]
    return []


def open_seal(name: str, raw: bytes) -> tuple[dict | None, bool, list[Problem]]:
    """(content without its `record_sha256`, whether it was sealed, problems) of the sealed
    record stored as `name`."""
    try:
        content = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, False, [Problem(name, "not valid JSON (truncated or damaged)")]
    if not isinstance(content, dict):
        return None, False, [Problem(name, "not a JSON object")]
    if RECORD_HASH_FIELD not in content:
        return content, False, []
    claimed = content.pop(RECORD_HASH_FIELD)
    if canonical_sha256(content) != claimed:
        return None, True, [Problem(name, "edited: its content does not match its seal")]
    return content, True, []


def _validation_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(map(str, first["loc"]))
    return f"{where}: {first['msg']}" if where else first["msg"]


def target_record_problem(key: str, content: dict, status: str | None = None) -> str | None:
    """What makes `content` no record of target `key` (with `status`, if given), if anything:
    the check of what was written before records were sealed."""
    if content.get("key") != key:
        named = content.get("key")
        return "names no key" if named is None else f"is the record of another key, {named}"
    try:
        record = TargetRecord.model_validate(content)
    except ValidationError as error:
        return f"is not a target record ({_validation_error(error)})"
    if status is not None and record.status != status:
        return f"has status '{record.status}', not '{status}'"
    return None


def unseal(key: str, raw: bytes | None) -> tuple[dict | None, dict | None, list[Problem]]:
    """(record, files' seals, problems) of an entry's record.json; the seals are None for a
    legacy record (no `record_sha256`), which is served only when it is the record of `key`."""
    if raw is None:
        return None, None, [Problem(RECORD_FILE, "missing")]
    content, was_sealed, problems = open_seal(RECORD_FILE, raw)
    if content is None:
        return None, None, problems
    if not was_sealed:
        problem = target_record_problem(key, content)
        if problem is not None:
            return None, None, [Problem(RECORD_FILE, f"unsealed, and {problem}")]
        return content, None, []
    files = content.pop(FILES_FIELD, None)
    if not isinstance(files, dict):
        return None, None, [Problem(RECORD_FILE, "sealed without its files")]
    if content.get("key", key) != key:
        return None, None, [Problem(RECORD_FILE, f"is the record of another key, {content['key']}")]
    return content, files, []


def _legacy_server_msa_problem(key: str, content: dict) -> str | None:
    if content.get("query_id") != key:
        return f"is the MSA of another query, {content.get('query_id')}"
    chains = content.get("chains")
    if not isinstance(chains, list) or not all(
        isinstance(chain, dict)
        and chain.get("file") == server_msa_chain_file(index)
        and isinstance(chain.get("sha256"), str)
        for index, chain in enumerate(chains)
    ):
        return "has no list of chain files with their sha256"
    return None


def sealed_files(kind: str, key: str, content: dict) -> dict[str, str]:
    """name -> sha256 of the files an object seals besides itself: a server MSA's chains."""
    if kind != SERVER_MSA_OBJECT:
        return {}
    return {server_msa_path(key, chain["file"]): chain["sha256"] for chain in content["chains"]}


# The kinds of object whose unsealed form (written before objects were sealed) is still
# served, when it passes this check (a problem, or None): a failure record as its target's
# failure, a server MSA by the sha256 its record keeps of each chain (refetching it would
# change every key made with it). Unsealed objects of the other kinds are computed again.
LEGACY_OBJECTS = {
    FAILURE_OBJECT: lambda key, content: target_record_problem(key, content, status="failed"),
    SERVER_MSA_OBJECT: _legacy_server_msa_problem,
}


@dataclass(frozen=True)
class ObjectInspection:
    """A sealed object as read: its content (without the seal; None when absent, damaged or
    unsealed and not served), what is wrong with it, and whether it predates the seal."""

    content: dict | None
    problems: list[Problem]
    legacy: bool = False
    # The files it seals (`sealed_files`), when they were read: name -> bytes.
    files: dict[str, bytes] = field(default_factory=dict)


def inspect_sealed_object(kind: str, key: str, name: str, raw: bytes) -> ObjectInspection:
    """Check the stored bytes `raw` of object `name` as the object `key` of `kind`."""
    content, was_sealed, problems = open_seal(name, raw)
    if content is None:
        return ObjectInspection(None, problems)
    if not was_sealed:
        check = LEGACY_OBJECTS.get(kind)
        if check is None:
            return ObjectInspection(None, [], legacy=True)
        problem = check(key, content)
        if problem is not None:
            return ObjectInspection(None, [Problem(name, f"unsealed, and {problem}")])
        return ObjectInspection(content, [], legacy=True)
    found_kind = content.pop(OBJECT_FIELD, None)
    if found_kind != kind:
        return ObjectInspection(
            None, [Problem(name, f"is a {found_kind or 'record'}, not a {kind}")]
        )
    if content.get("key") != key:
        return ObjectInspection(
            None, [Problem(name, f"is the {kind} of another key, {content.get('key')}")]
        )
    return ObjectInspection(content, [])


def quarantine_reason(what: str, problems: list[Problem]) -> str:
    return (
        f"{what} was moved here because it failed its seal:\n"
        + "".join(f"  {problem}\n" for problem in problems)
        + "It is computed again when it is next needed.\n"
    )


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
        try:
            record, files, problems = unseal(key, self.read_entry_file(key, RECORD_FILE))
            if files is None:
                return Inspection(record, problems, legacy=record is not None)
            for name, seal in sorted(files.items()):
                problems += file_problems(name, self.read_entry_file(key, name), seal)
        except OutsideStore as error:
            return Inspection(None, [Problem(error.name, str(error))])
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
        try:
            record, files, problems = unseal(key, self.read_entry_file(key, RECORD_FILE))
        except OutsideStore as error:
            raise CorruptEntry(self.location, key, [Problem(error.name, str(error))]) from None
        if record is None:
            raise CorruptEntry(self.location, key, problems)
        if files is not None and name not in files:
            raise FileNotFoundError(f"store entry {key} in {self.location} has no file {name}")
        try:
            copied = self._copy_entry_file(key, name, destination)
        except OutsideStore as error:
            raise CorruptEntry(self.location, key, [Problem(error.name, str(error))]) from None
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

    def read_stored(self, name: str) -> bytes | None:
        """A file of the store (`name` relative to it), unchecked, or None if absent; locally
        `OutsideStore` for a path that leads out of the store."""
        return self.read_blob(name)

    def write_stored(self, name: str, data: bytes) -> None:
        """Write a file of the store atomically; locally a StoreError for a path that leads
        out of the store."""
        self.write_blob(name, data)

    def inspect_object(self, kind: str, key: str, *, with_files: bool = False) -> ObjectInspection:
        """Read the sealed object `key` of `kind` and check it against its seal, its kind
        and its key; `with_files`: also read the files it seals and check them."""
        name = object_path(kind, key)
        try:
            raw = self.read_stored(name)
            if raw is None:
                return ObjectInspection(None, [])
            inspection = inspect_sealed_object(kind, key, name, raw)
            if inspection.content is None or not with_files:
                return inspection
            files = {
                file: self.read_stored(file) for file in sealed_files(kind, key, inspection.content)
            }
        except OutsideStore as error:
            return ObjectInspection(None, [Problem(error.name, str(error))])
        problems = [
            Problem(
                file, "missing" if data is None else "altered: its sha256 is not the one recorded"
            )
            for (file, sha256), data in zip(
                sealed_files(kind, key, inspection.content).items(), files.values(), strict=True
            )
            if data is None or sha256_bytes(data) != sha256
        ]
        if problems:
            return ObjectInspection(inspection.content, problems, inspection.legacy)
        return ObjectInspection(inspection.content, [], inspection.legacy, files)

    def read_object(self, kind: str, key: str, *, with_files: bool = False) -> ObjectInspection:
        """The sealed object `key` of `kind`, checked (`inspect_object`). Its content is None
        when there is none to serve: absent, written before objects were sealed (of a kind
        then computed again), or damaged, which is reported with its path and moved aside
        with the files it seals, so that its owner computes it again."""
        inspection = self.inspect_object(kind, key, with_files=with_files)
        if not inspection.problems:
            return inspection
        self.quarantine_object(kind, key, inspection)
        return ObjectInspection(None, inspection.problems)

    def read_parsed(self, kind: str, key: str, parse: Callable[[dict], Parsed]) -> Parsed | None:
        """The sealed object `key` of `kind` as `parse` makes it, or None (`read_object`). An
        object whose seal holds but whose content `parse` refuses (a KeyError, TypeError or
        ValueError, pydantic's included: written by another version, or sealed by hand) is
        damaged too: reported, moved aside, and computed again by its owner, never raised."""
        content = self.read_object(kind, key).content
        if content is None:
            return None
        try:
            return parse(content)
        except (KeyError, TypeError, ValueError) as error:
            name = object_path(kind, key)
            self.quarantine_objects(
                [name], [Problem(name, f"not a {kind}: {type(error).__name__}: {error}")]
            )
            return None

    def quarantine_object(self, kind: str, key: str, inspection: ObjectInspection) -> str:
        """Move the damaged object `key` of `kind` aside with the files it seals (as far as
        its record could be read); where it went."""
        names = [object_path(kind, key)]
        if inspection.content is not None:
            names += sealed_files(kind, key, inspection.content)
        return self.quarantine_objects(names, inspection.problems)

    def write_object(self, kind: str, key: str, content: dict) -> None:
        """Store `content` as the sealed object `key` of `kind` (atomically)."""
        self.write_stored(object_path(kind, key), seal_object(kind, key, content))

    def quarantine_objects(self, names: list[str], problems: list[Problem]) -> str:
        """Move the objects `names` (the first is the sealed one) aside, under quarantine/,
        with the reasons, and report it; where they went."""
        moved_to = self._move_objects_aside(names, quarantine_reason(names[0], problems))
        log.warning(
            "store object %s/%s is damaged (%s); moved to %s: it is computed again",
            self.location.rstrip("/"),
            names[0],
            "; ".join(map(str, problems)),
            moved_to,
        )
        return moved_to

    @abstractmethod
    def _move_objects_aside(self, names: list[str], reason: str) -> str:
        """Move `names` under one new quarantine/ folder with `reason`; where it is."""

    @abstractmethod
    def is_store(self) -> bool:
        """Whether the location holds a store: any of its top-level folders."""

    @abstractmethod
    def check_writable(self) -> None:
        """A StoreError naming the store and what to do, if it cannot be written."""


def inspect_all(store: ResultStore) -> dict[str, Inspection]:
    """Every committed entry of `store`, read whole and checked (`omtx-hub store verify`)."""
    keys = store.all_keys()
    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        return dict(zip(keys, pool.map(store.inspect, keys), strict=True))


def inspect_all_objects(store: ResultStore) -> dict[tuple[str, str], ObjectInspection]:
    """(kind, key) -> inspection of every sealed object of `store` but its entries, read
    with the files it seals and checked (`omtx-hub store verify`)."""
    found = [
        (name, identity)
        for directory in OBJECT_DIRS.values()
        for name in store.blob_names(f"{directory}/")
        if (identity := object_at(name)) is not None
    ]
    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        inspections = pool.map(lambda item: store.inspect_object(*item[1], with_files=True), found)
        return {
            identity: inspection
            for (_, identity), inspection in zip(found, inspections, strict=True)
        }


class LocalStore(ResultStore):
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.location = str(self.root)

    def _entry(self, key: str) -> Path:
        return self.root / entry_path(key)

    def _contained(self, relative: str) -> Path:
        """The path of `relative` in the store; `OutsideStore` if it resolves out of it."""
        path = self.root / relative
        root, resolved = self.root.resolve(), path.resolve()
        if not resolved.is_relative_to(root):
            raise OutsideStore(relative, resolved)
        return path

    def _way_out(self, relative: str) -> Path | None:
        """The first symbolic link on the way to `relative` that leads out of the store."""
        root = self.root.resolve()
        path = self.root
        for part in Path(relative).parts:
            path = path / part
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                return path
        return None

    def has(self, key: str) -> bool:
        # A symbolic link in an entry's place is found, read as damaged and moved aside.
        entry = self._entry(key)
        return entry.is_symlink() or (entry / RECORD_FILE).is_file()

    def keys_in(self, fan_out_dir: str) -> dict[str, float]:
        directory = self.root / fan_out_path(fan_out_dir)
        if not directory.is_dir():
            return {}
        found = {}
        for entry in os.scandir(directory):
            if entry.name.startswith("."):
                continue
            record = Path(entry.path, RECORD_FILE)
            if entry.is_symlink():
                found[entry.name] = entry.stat(follow_symlinks=False).st_mtime
            elif record.is_file():
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
            if (path.is_file() or path.is_symlink()) and not path.name.startswith(".")
        )

    def blob_md5s(self, prefix: str) -> dict[str, str]:
        return {
            name: hashlib.md5((self.root / name).read_bytes(), usedforsecurity=False).hexdigest()
            for name in self.blob_names(prefix)
            if (self.root / name).is_file()
        }

    def read_entry_file(self, key: str, name: str) -> bytes | None:
        try:
            return self._contained(f"{entry_path(key)}/{name}").read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def _writable(self, relative: str) -> Path:
        """The path of `relative`, to be written; a StoreError if a folder on the way to it
        leads out of the store."""
        way_out = self._way_out(str(Path(relative).parent))
        if way_out is not None:
            raise StoreError(
                f"cannot write {self.root / relative}: {way_out} is a symbolic link out of the "
                f"result store (to {way_out.resolve()}), which is never written through; "
                "replace it with a folder"
            )
        return self.root / relative

    def commit(self, key: str, files: dict[str, Path], record: dict) -> None:
        final = self._writable(entry_path(key))
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
                if os.path.lexists(final):
                    self.quarantine(key, existing.problems)
        os.rename(staging, final)

    def _copy_entry_file(self, key: str, name: str, destination: Path) -> bool:
        try:
            shutil.copyfile(self._contained(f"{entry_path(key)}/{name}"), destination)
        except FileNotFoundError:
            return False
        return True

    @staticmethod
    def _write_reason(directory: Path, reason: str) -> None:
        """The quarantine reason in `directory`, never written through a link."""
        path = directory / QUARANTINE_REASON_FILE
        if path.is_symlink():
            path.unlink()
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(handle, "w") as reason_file:
            reason_file.write(reason)

    def _move_aside(self, relative: str, destination: Path) -> bool:
        """Move what is at `relative` (or the link out of the store on the way to it) into
        the new folder `destination`; False if it is gone (another reader moved it)."""
        source = self._way_out(relative) or self.root / relative
        destination.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(source, destination / source.name)
        except FileNotFoundError:
            return False
        return True

    def quarantine(self, key: str, problems: list[Problem]) -> str:
        destination = self._writable(f"{quarantine_path(key)}/{QUARANTINE_REASON_FILE}").parent
        entry = self._entry(key)
        if entry.is_dir() and not entry.is_symlink() and self._way_out(entry_path(key)) is None:
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(entry, destination)  # the entry's files, as they were
            except FileNotFoundError:
                return str(destination)  # another reader moved it first
        elif not self._move_aside(entry_path(key), destination):
            destination.rmdir()
            return str(destination)
        self._write_reason(destination, quarantine_reason(f"store entry {key}", problems))
        log.warning(
            "moved store entry %s to %s: %s", key, destination, "; ".join(map(str, problems))
        )
        return str(destination)

    def _move_objects_aside(self, names: list[str], reason: str) -> str:
        destination = self._writable(f"{quarantine_path(names[0])}/{QUARANTINE_REASON_FILE}").parent
        for name in names:
            self._move_aside(name, destination)
        self._write_reason(destination, reason)
        return str(destination)

    def read_blob(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def has_blob(self, name: str) -> bool:
        return (self.root / name).is_file()

    def write_blob(self, name: str, data: bytes) -> None:
        write_atomically(self.root / name, data)

    def read_stored(self, name: str) -> bytes | None:
        path = self._contained(name)
        return path.read_bytes() if path.is_file() else None

    def write_stored(self, name: str, data: bytes) -> None:
        write_atomically(self._writable(name), data)

    def is_store(self) -> bool:
        return any((self.root / directory).is_dir() for directory in STORE_DIRS)

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-check-"):
                pass
        except OSError as error:
            raise StoreError(
                f"the result store {self.root} cannot be written ({error.strerror or error}): "
                "give the config key 'store' a directory this user can create and write, or "
                "a gs:// bucket"
            ) from None


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
        if client is None:
            from google.auth.exceptions import DefaultCredentialsError

            try:
                client = storage.Client(project=project)
            except DefaultCredentialsError as error:
                raise StoreError(
                    f"the result store {url} cannot be reached: no Google credentials ({error}). "
                    "Run `gcloud auth application-default login` (or set "
                    "GOOGLE_APPLICATION_CREDENTIALS to a service account's key file) and run "
                    "again."
                ) from None
        self.client = client
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
            self._copy(blob, f"{moved_to}/{blob.name[len(prefix) :]}")
        reason = f"{moved_to}/{QUARANTINE_REASON_FILE}"
        self._upload(
            reason,
            lambda blob: blob.upload_from_string(
                quarantine_reason(f"store entry {key}", problems), **self._calls()
            ),
        )
        # The record first: the entry stops being one before its files go.
        for blob in sorted(blobs, key=lambda blob: not blob.name.endswith(f"/{RECORD_FILE}")):
            with contextlib.suppress(NotFound):
                self._request("deleting", blob.name, lambda blob=blob: blob.delete(**self._calls()))
        location = f"gs://{self.bucket.name}/{moved_to}"
        log.warning("moved store entry %s to %s: %s", key, location, "; ".join(map(str, problems)))
        return location

    def _copy(self, blob, target: str) -> bool:
        """Copy `blob` to the object `target`; False when it is gone (another reader moved it
        aside first)."""
        from google.api_core.exceptions import NotFound

        try:
            self._request(
                "copying",
                blob.name,
                lambda: self.bucket.copy_blob(blob, self.bucket, target, **self._calls()),
            )
        except NotFound:
            return False
        return True

    def _move_objects_aside(self, names: list[str], reason: str) -> str:
        from google.api_core.exceptions import NotFound

        moved_to = self._name(quarantine_path(names[0]))
        for name in names:
            source = self.bucket.blob(self._name(name))
            if self._copy(source, f"{moved_to}/{name.rsplit('/', 1)[-1]}"):
                with contextlib.suppress(NotFound):  # another reader moved it first
                    self._request(
                        "deleting",
                        source.name,
                        lambda source=source: source.delete(**self._calls()),
                    )
        self._upload(
            f"{moved_to}/{QUARANTINE_REASON_FILE}",
            lambda blob: blob.upload_from_string(reason, **self._calls()),
        )
        return f"gs://{self.bucket.name}/{moved_to}"

    def is_store(self) -> bool:
        return any(
            self._list(self._name(f"{directory}/"), max_results=1, fields="items(name)")
            for directory in STORE_DIRS
        )

    def check_writable(self) -> None:
        # The credentials were found when the client was made; what they may do shows at the
        # first request, as a StoreError naming the object.
        return None

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
