"""Random hostile sheets through planning in a process of its own: planning ends, within a
bound, with a plan or a clean refusal, never with a traceback or a signal, and never accepts
a molecule Boltz cannot model (docs/reliability.md, "Random sheets and configs").

Hypothesis draws sheets of many sizes and widths (to past the column limit), in many
encodings (UTF-8 with and without its byte-order mark, UTF-16 and UTF-32 with and without
theirs, Latin-1, gzip-compressed), with names in every Unicode form (NFD, full-width,
zero-width-only, direction marks, any printable text), long cells (to past the csv module's
limit) and SMILES from real molecules to hostile ones (chains longer than RDKit survives,
dummy atoms, deep branches). The planner runs in a long-lived subprocess
(tests.plan_worker): a segmentation fault in RDKit, which killed the planner before the
SMILES length was bounded, is seen as the signal it is, and a hang as a timeout. The config
half of the property tests is tests/unit/test_hostile_properties.py, whose profiles (ci,
explore) these tests use too.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import signal
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rdkit import Chem

from omtx_hub.sheet import MAX_CELL_CHARACTERS, MAX_COLUMNS, MAX_SMILES_CHARACTERS
from tests.hostile import screen_config
from tests.plan_worker import PlanWorker
from tests.unit.test_hostile_properties import PROFILE, count, scratch_directory

# Hang protection only: planning these sheets takes well under a second each (a 4,000-atom
# chain, the longest SMILES RDKit is given, about 0.4 s), on a busy machine a few.
PLANNING_BOUND_S = 120

GOOD_SMILES = ["CCO", "CCN", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "OCC"]
HOSTILE_SMILES = [
    "C" * 20_000,  # RDKit's segmentation fault (rc 139) before the length bound
    "C" * MAX_SMILES_CHARACTERS,
    "C" * (MAX_SMILES_CHARACTERS + 1),
    "C(" * 2000 + "C" + ")" * 2000,
    "c1ccccc1" * 300,
    "*CC",
    "[*:1]c1ccccc1",
    "[Na+].[Cl-]",
    "C1CC",
    "",
    "[Xx]",
    "CCO ethanol",
    # No heavy atom, or one with isotopic hydrogens: Boltz fails writing them or models heavy
    # water as one hydrogen (docs/reliability.md, "A ligand Boltz cannot process").
    "[H][H]",
    "[H+]",
    "[2H][2H]",
    "[H-]",
    "[2H]O[2H]",
    "CCO.[H][H]",
]
smiles = st.sampled_from(HOSTILE_SMILES)


def _forms(name: str) -> list[str]:
    """`name` as typed in other Unicode forms: NFD, full-width, with a zero-width space."""
    full_width = "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in unicodedata.normalize("NFC", name)
    )
    return [unicodedata.normalize("NFD", name), full_width, name[:1] + "\u200b" + name[1:]]


base_name = st.one_of(
    st.sampled_from(["café", "Ĉafé ñ", "ABC-1", "名前", "x" * 300, "\u200fRLM", "-rf", "=1+1"]),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12),
)
name = st.one_of(
    base_name,
    base_name.flatmap(lambda n: st.sampled_from(_forms(n))),
    st.sampled_from(["\u200b", "\u200b\u200d\ufeff", "\u3164", "\u2800", " \u00a0 "]),
)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"]


@st.composite
def hostile_sheets(draw) -> bytes:
    """A sheet's bytes: a header of `name`, `smiles` and some extra columns, rows of drawn
    names, SMILES and cells, maybe one very long cell, in a drawn encoding (or gzip)."""
    width = draw(
        st.one_of(st.integers(2, 6), st.sampled_from([MAX_COLUMNS, MAX_COLUMNS + 1, 5000]))
    )
    rows = draw(st.integers(1, 3 if width > 100 else 60))
    header = ["name", "smiles", *(f"c{i}" for i in range(width - 2))]
    if width > 2 and draw(st.booleans()):  # a column named like a result column
        header[2] = draw(st.sampled_from(["status", "rank", "sheet_status", "ligand_name"]))
    table = [header]
    # A few hostile rows among ordinary ones, so that many sheets plan.
    hostile = draw(st.sets(st.integers(0, rows - 1), max_size=3))
    for row in range(rows):
        cells = [f"ligand-{row}", GOOD_SMILES[row % len(GOOD_SMILES)]] + ["1"] * (width - 2)
        if row in hostile:
            cells[0] = draw(st.one_of(name, name.map(lambda n, row=row: f"{n}-{row}")))
            cells[1] = draw(st.one_of(st.sampled_from(GOOD_SMILES), smiles))
        table.append(cells)
    if draw(st.integers(0, 4)) == 0:
        length = draw(st.sampled_from([1000, MAX_CELL_CHARACTERS, MAX_CELL_CHARACTERS + 1]))
        table[-1][draw(st.integers(0, width - 1))] = "y" * length
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(table)
    encoding = draw(st.one_of(st.just("utf-8"), st.sampled_from([*ENCODINGS, "gzip"])))
    if encoding == "gzip":
        return gzip.compress(buffer.getvalue().encode())
    return buffer.getvalue().encode(encoding, errors="replace")


@pytest.fixture(scope="module")
def worker():
    planner = PlanWorker()
    yield planner
    planner.close()


def check_modelable(smiles: str) -> None:
    """What planning guarantees of a planned molecule: a SMILES RDKit was allowed to read,
    whose every atom is an element (no dummy atom), with a heavy atom, and with no isotopic
    hydrogen when it has only one (Boltz would model that hydrogen)."""
    assert len(smiles) <= MAX_SMILES_CHARACTERS
    molecule = Chem.MolFromSmiles(smiles)
    assert molecule is not None, smiles
    atoms = list(Chem.AddHs(molecule).GetAtoms())
    assert all(atom.GetAtomicNum() > 0 for atom in atoms), smiles
    heavy = [atom for atom in atoms if atom.GetAtomicNum() > 1]
    assert heavy, smiles
    if len(heavy) == 1:
        assert not any(a.GetAtomicNum() == 1 and a.GetIsotope() for a in atoms), smiles


def look(text: str) -> str:
    compatible = unicodedata.normalize("NFKC", text)
    return "".join(c for c in compatible if unicodedata.category(c) != "Cf")


@PROFILE
@given(sheet=hostile_sheets())
def test_a_hostile_sheet_plans_or_is_refused_in_time_never_crashing(worker, sheet):
    with scratch_directory() as directory:
        outcome = worker.plan(screen_config(directory, sheet), within_s=PLANNING_BOUND_S)
    assert outcome["outcome"] in ("planned", "refused"), outcome.get("traceback")
    count(outcome["outcome"])
    if outcome["outcome"] == "refused":
        assert outcome["message"].startswith(("ligand sheet '", "Invalid screen configuration:"))
        return
    names = outcome["names"]
    assert all(name == unicodedata.normalize("NFC", name) for name in names)
    assert len({look(name) for name in names}) == len(names)  # no two names look alike
    assert all(look(name).strip() for name in names)
    for planned in outcome["smiles"]:
        check_modelable(planned)


def test_the_worker_reports_a_crash_as_the_signal_it_is(worker, tmp_path):
    """The check itself: a planning process killed by a signal (as RDKit's segmentation
    fault killed it) fails the test naming the signal, and the next config gets a new one."""
    raw = screen_config(tmp_path, b"name,smiles\na,CCO\n")
    assert worker.plan(raw, within_s=PLANNING_BOUND_S)["outcome"] == "planned"
    os.kill(worker.pid, signal.SIGSEGV)
    with pytest.raises(AssertionError, match=r"the planning process died \(signal SIGSEGV\)"):
        worker.plan(raw, within_s=PLANNING_BOUND_S)
    assert worker.plan(raw, within_s=PLANNING_BOUND_S)["outcome"] == "planned"
