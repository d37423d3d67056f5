"""Where the result store keeps each kind of object, named once (as `omtx_hub.layout` names
every file of a screen's results directory). Paths are relative to the store's location (a
local directory or gs://bucket/prefix):

    targets/<key[:2]>/<key>/        one prediction (omtx_hub.store): record.json + its files
    failures/<key>.json             a target Boltz could not predict (omtx_hub.failures)
    sheets/<sheet key>.tsv          a validated ligand sheet (omtx_hub.plan)
    molecules/<key>/<xx>.json       SMILES validated before (omtx_hub.validated_molecules)
    msa/<query id>/msa.json, <n>.csv   a server MSA (omtx_hub.msa_server)
    key-schemes/<n>.json            the key schemes the store was used with (omtx_hub.key_schemes)
    quarantine/<time>-<key>/        entries moved aside because they failed their seal

The keys and ids themselves are derived in `omtx_hub.keys`.
"""

from __future__ import annotations

from datetime import UTC, datetime

TARGETS_DIR = "targets"
# The commit marker of an entry and the record of its prediction.
RECORD_FILE = "record.json"
FAILURES_DIR = "failures"
SHEETS_DIR = "sheets"
MOLECULES_DIR = "molecules"
MSA_DIR = "msa"
MSA_RECORD_FILE = "msa.json"
SCHEME_MARKERS_DIR = "key-schemes"
QUARANTINE_DIR = "quarantine"
QUARANTINE_REASON_FILE = "quarantine-reason.txt"


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
    """A validated ligand sheet (`omtx_hub.keys.sheet_key`)."""
    return f"{SHEETS_DIR}/{sheet_key}.tsv"


def validated_molecules_path(molecules_key: str, part: str) -> str:
    """One of the 256 parts (`part`: two hex digits of a SMILES's sha256) of the SMILES
    validated under `molecules_key` (`omtx_hub.keys.molecules_key`)."""
    return f"{MOLECULES_DIR}/{molecules_key}/{part}.json"


def server_msa_path(query_id: str, name: str) -> str:
    """A file of a server MSA (`omtx_hub.keys.server_msa_id`): its record or a chain's csv."""
    return f"{MSA_DIR}/{query_id}/{name}"


def server_msa_chain_file(index: int) -> str:
    """The csv of the `index`-th `msa: server` chain of a receptor, in its server MSA."""
    return f"{index}.csv"


def scheme_marker_path(scheme: int) -> str:
    return f"{SCHEME_MARKERS_DIR}/{scheme}.json"


def quarantine_path(key: str) -> str:
    """Where an entry moved aside goes: a new name every time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{QUARANTINE_DIR}/{stamp}-{key}"
