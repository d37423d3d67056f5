"""Where the result store keeps each kind of object, named once (as `omtx_hub.layout` names
every file of a screen's results directory). Paths are relative to the store's location (a
local directory or gs://bucket/prefix):

    targets/<key[:2]>/<key>/        one prediction (omtx_hub.store): record.json + its files
    failures/<key>.json             a target Boltz could not predict (omtx_hub.failures)
    sheets/<sheet key>.json         a validated ligand sheet (omtx_hub.plan)
    molecules/<key>/<xx>.json       SMILES validated before (omtx_hub.validated_molecules)
    chemistry/<key>/<xx>.json       molecules' alerts and properties (omtx_hub.chemistry_cache)
    msa/<query id>/msa.json, <n>.csv   a server MSA (omtx_hub.msa_server)
    key-schemes/<n>.json            the key schemes the store was used with (omtx_hub.key_schemes)
    triage/<version>/<key>.json     a completed target's pose checks and interactions, by the
                                    checkers' version (omtx_hub.pose_store)
    quarantine/<time>-<name>/       entries and objects moved aside because they failed their seal

Every object but the key-scheme markers is sealed (omtx_hub.store): an entry by its
`record.json`, the others as sealed objects of a kind (`OBJECT_KINDS`) under a key, which
`object_at` reads back from the object's path. The keys and ids themselves are derived in
`omtx_hub.keys`.
"""

from __future__ import annotations

from datetime import UTC, datetime

TARGETS_DIR = "targets"
# The commit marker of an entry and the record of its prediction.
RECORD_FILE = "record.json"
FAILURES_DIR = "failures"
SHEETS_DIR = "sheets"
MOLECULES_DIR = "molecules"
CHEMISTRY_DIR = "chemistry"
MSA_DIR = "msa"
MSA_RECORD_FILE = "msa.json"
SCHEME_MARKERS_DIR = "key-schemes"
QUARANTINE_DIR = "quarantine"
TRIAGE_DIR = "triage"
QUARANTINE_REASON_FILE = "quarantine-reason.txt"
# Every top-level directory of a store: a directory holding none of them is no store.
STORE_DIRS = (
    TARGETS_DIR,
    FAILURES_DIR,
    SHEETS_DIR,
    MOLECULES_DIR,
    CHEMISTRY_DIR,
    MSA_DIR,
    SCHEME_MARKERS_DIR,
    QUARANTINE_DIR,
    TRIAGE_DIR,
)
# The kinds of sealed object (besides entries), as their seals name them.
FAILURE_OBJECT = "failure record"
SHEET_OBJECT = "validated sheet"
MOLECULES_OBJECT = "validated molecules"
SERVER_MSA_OBJECT = "server MSA"
CHEMISTRY_OBJECT = "molecule chemistry"
TRIAGE_OBJECT = "pose triage"
OBJECT_KINDS = (
    FAILURE_OBJECT,
    SHEET_OBJECT,
    MOLECULES_OBJECT,
    SERVER_MSA_OBJECT,
    CHEMISTRY_OBJECT,
    TRIAGE_OBJECT,
)
# The kinds kept in 256 parts, under `<key>/<part>` (`part_key`).
PARTED_KINDS = (MOLECULES_OBJECT, CHEMISTRY_OBJECT)
# The kinds whose keys are `<part>/<part>` (the others have no '/'): the parted kinds, and pose
# checks under `<version>/<target key>`.
NESTED_KEY_KINDS = (*PARTED_KINDS, TRIAGE_OBJECT)
# The directory of each kind (`object_at`).
OBJECT_DIRS = {
    FAILURE_OBJECT: FAILURES_DIR,
    SHEET_OBJECT: SHEETS_DIR,
    MOLECULES_OBJECT: MOLECULES_DIR,
    SERVER_MSA_OBJECT: MSA_DIR,
    CHEMISTRY_OBJECT: CHEMISTRY_DIR,
    TRIAGE_OBJECT: TRIAGE_DIR,
}
SEALED_SUFFIX = ".json"


def fan_out(key: str) -> str:
    """The directory of `targets/` an entry is in: its key's first two hex digits (256)."""
    return key[:2]


def fan_out_path(fan_out_dir: str) -> str:
    """Relative location of a fan-out directory of entries."""
    return f"{TARGETS_DIR}/{fan_out_dir}"


def entry_path(key: str) -> str:
    """Relative location of an entry; the two-character fan-out keeps directories small."""
    return f"{fan_out_path(fan_out(key))}/{key}"


def failure_path(key: str) -> str:
    """The recorded failure of a target."""
    return f"{FAILURES_DIR}/{key}.json"


def sheet_path(sheet_key: str) -> str:
    """A validated ligand sheet (`omtx_hub.keys.sheet_key`). (Before sheets were sealed they
    were kept as `<sheet key>.tsv`, which nothing reads any more.)"""
    return f"{SHEETS_DIR}/{sheet_key}{SEALED_SUFFIX}"


def validated_molecules_key(molecules_key: str, part: str) -> str:
    """The key a part of the validated molecules is sealed under."""
    return part_key(molecules_key, part)


def part_key(key: str, part: str) -> str:
    """The key a part (two hex digits of a SMILES's sha256) of an object of PARTED_KINDS is
    sealed under: the validated molecules' (`omtx_hub.keys.molecules_key`), the molecules'
    chemistry (`omtx_hub.keys.chemistry_key`)."""
    return f"{key}/{part}"


def validated_molecules_path(molecules_key: str, part: str) -> str:
    """One of the 256 parts (`part`: two hex digits of a SMILES's sha256) of the SMILES
    validated under `molecules_key` (`omtx_hub.keys.molecules_key`)."""
    return f"{MOLECULES_DIR}/{validated_molecules_key(molecules_key, part)}{SEALED_SUFFIX}"


def triage_key(version: str, target_key: str) -> str:
    """The key a target's pose checks of checker `version` are sealed under: a new version
    is a new directory, so results of another version are never read for it."""
    return f"{version}/{target_key}"


def server_msa_path(query_id: str, name: str) -> str:
    """A file of a server MSA (`omtx_hub.keys.server_msa_id`): its record or a chain's csv."""
    return f"{MSA_DIR}/{query_id}/{name}"


def server_msa_chain_file(index: int) -> str:
    """The csv of the `index`-th `msa: server` chain of a receptor, in its server MSA."""
    return f"{index}.csv"


def scheme_marker_path(scheme: int) -> str:
    return f"{SCHEME_MARKERS_DIR}/{scheme}.json"


def object_at(name: str) -> tuple[str, str] | None:
    """(kind, key) of the sealed object at `name` (relative to the store), or None for a name
    that is no sealed object: a server MSA's chain files are sealed by its record, and
    `sheets/*.tsv` are the unsealed caches of earlier versions."""
    directory, _, rest = name.partition("/")
    kind = next((kind for kind, where in OBJECT_DIRS.items() if where == directory), None)
    if kind == SERVER_MSA_OBJECT:
        query_id, _, file = rest.partition("/")
        return (kind, query_id) if query_id and file == MSA_RECORD_FILE else None
    key = rest.removesuffix(SEALED_SUFFIX)
    # A part (PARTED_KINDS) is `<key>/<part>`, pose checks `<version>/<target key>`; other keys
    # have no '/'.
    if kind is None or key in ("", rest) or key.count("/") != (kind in NESTED_KEY_KINDS):
        return None
    return kind, key


def object_path(kind: str, key: str) -> str:
    """Where the sealed object `key` of `kind` is (the inverse of `object_at`)."""
    if kind == SERVER_MSA_OBJECT:
        return server_msa_path(key, MSA_RECORD_FILE)
    return f"{OBJECT_DIRS[kind]}/{key}{SEALED_SUFFIX}"


def quarantine_path(name: str) -> str:
    """Where an entry (`name`: its key) or an object (its path) moved aside goes: a new name
    every time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{QUARANTINE_DIR}/{stamp}-{name.replace('/', '-')}"
