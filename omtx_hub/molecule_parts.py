"""Per-molecule results kept in the result store, so that each is computed once whatever
screen, sheet or rerun a molecule comes in: the validated molecules (omtx_hub.validated_molecules)
and the molecules' chemistry (omtx_hub.chemistry_cache).

A kind's results for one key (what they depend on: validator or chemistry version, RDKit's
and Boltz's versions, settings) are kept in 256 sealed objects, one per first two hex digits
of the SMILES's sha256 (`omtx_hub.store_layout.part_key`), so a lookup reads and writes only
the parts its SMILES fall in. Each part is sealed and parsed as every store object is
(`ResultStore.read_parsed`): a damaged part, or a sealed one that is no part of ours, is
reported, moved aside and computed again; an unsealed one (written before parts were sealed)
is ignored and written anew. A part is read, merged and written back whole: two screens
writing one part at the same moment may each keep only their own additions, which costs a
later screen a computation, never a wrong result.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from omtx_hub.store import LOOKUP_THREADS, ResultStore
from omtx_hub.store_layout import part_key

# A part's field of its molecules: SMILES -> the encoded result.
MOLECULES = "molecules"

Result = TypeVar("Result")


def part_of(smiles: str) -> str:
    """The part a SMILES's result is kept in: two hex digits of its sha256."""
    return hashlib.sha256(smiles.encode()).hexdigest()[:2]


class MoleculeParts(Generic[Result]):
    """The results of one `kind` under one `key`, by SMILES: `encode` turns a result into
    JSON, `decode` one back (a KeyError, TypeError or ValueError marks the part damaged)."""

    def __init__(
        self,
        store: ResultStore,
        kind: str,
        key: str,
        *,
        encode: Callable[[Result], Any],
        decode: Callable[[Any], Result],
    ):
        self.store, self.kind, self.key = store, kind, key
        self._encode, self._decode = encode, decode
        # The parts read by `stored`, which `add` merges into: part -> SMILES -> result.
        self._parts: dict[str, dict[str, Result]] = {}

    def stored(self, smiles: Iterable[str]) -> dict[str, Result]:
        """The kept result of each of `smiles` that has one (the parts they fall in are read,
        a few at a time, and remembered for `add`)."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for cell in smiles:
            wanted[part_of(cell)].add(cell)
        unread = sorted(part for part in wanted if part not in self._parts)
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            self._parts.update(zip(unread, pool.map(self._read, unread), strict=True))
        return {
            cell: self._parts[part][cell]
            for part, cells in wanted.items()
            for cell in cells
            if cell in self._parts[part]
        }

    def add(self, results: dict[str, Result]) -> None:
        """Keep `results`: each part they fall in is written back whole, with what `stored`
        read of it."""
        additions: dict[str, dict[str, Result]] = defaultdict(dict)
        for cell, result in results.items():
            additions[part_of(cell)][cell] = result
        for part, added in additions.items():
            self._parts.setdefault(part, {}).update(added)
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            list(pool.map(self._write, list(additions)))

    def _read(self, part: str) -> dict[str, Result]:
        molecules = self.store.read_parsed(self.kind, part_key(self.key, part), self._decoded)
        return molecules or {}

    def _decoded(self, content: dict) -> dict[str, Result]:
        return {cell: self._decode(stored) for cell, stored in content[MOLECULES].items()}

    def _write(self, part: str) -> None:
        rows = {cell: self._encode(result) for cell, result in self._parts[part].items()}
        self.store.write_object(self.kind, part_key(self.key, part), {MOLECULES: rows})
