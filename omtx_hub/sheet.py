"""The ligand sheet: reading, validation, the molecule Boltz models and safe IDs.

A sheet is a CSV (or TSV) with at least the columns `name` and `smiles` (or `ccd`: a ligand by
its code in the PDB's Chemical Component Dictionary, which Boltz takes from its molecule
cache; each row gives exactly one of the two); any other columns are carried through to the
results. Each SMILES becomes the molecule Boltz models (`omtx_hub.chemistry`). Every problem
is reported at once, each naming the line of the file, so a chemist can fix a 10,000-row sheet
in one pass before any GPU time is spent.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from omtx_hub.chemistry import (
    MAX_AFFINITY_ATOMS,
    LigandProblem,
    PreparedLigand,
    ccd_atoms_check,
    prepare_ligands,
)
from omtx_hub.receptor import CCD_PATTERN
from omtx_hub.result_tables import FLAG_LARGE, FLAGS_SEPARATOR, MAX_TRAINING_ATOMS

if TYPE_CHECKING:
    from rdkit.Chem import Mol

REQUIRED_COLUMNS = ("name",)
# A row's ligand: a SMILES, or a CCD code (the sheet needs one of the two columns).
MOLECULE_COLUMNS = ("smiles", "ccd")
# A CCD ligand's identity in keys and de-duplication; never a SMILES (no atom `ccd`).
CCD_IDENTITY_PREFIX = "ccd:"
# Columns the validated sheet adds; a sheet may not bring its own under these names.
GENERATED_COLUMNS = (
    "line",
    "index",
    "ligand_id",
    "canonical_smiles",
    "modeled_smiles",
    "standardisation",
    "flags",
    "heavy_atoms",
)
# Separators of the validated sheet's list columns (`standardisation`, `flags`).
CHANGES_SEPARATOR = "; "
MAX_ID_LENGTH = 64
MAX_LISTED_PROBLEMS = 25
# Peak memory of reading and validating a sheet, per byte of the file (13.6-17.4 measured by
# benchmarks/sheet_memory.py); quoted when a sheet is refused by limits.sheet_max_bytes.
READ_MEMORY_PER_SHEET_BYTE = 15
# Bumped whenever validation or standardisation changes, so cached sheets are redone.
VALIDATOR_VERSION = "6"

_UNSAFE_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]+")
# C0 and C1 control characters (line breaks, tabs, NUL, escape...) and the Unicode line and
# paragraph separators.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# The RDKit molecule of a CCD code in Boltz's molecule cache; LookupError (its message says why)
# when the cache lacks it.
CcdMolecules = Callable[[str], "Mol"]
# `omtx_hub.chemistry.prepare_ligands`, or a function of the same signature.
PrepareSmiles = Callable[..., list[PreparedLigand | LigandProblem]]


class SheetError(ValueError):
    """A problem with the ligand sheet, naming the file line and column."""


@dataclass(frozen=True)
class SheetProblem:
    line: int | None
    name: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "sheet"
        who = f" (name {self.name!r})" if self.name else ""
        return f"{where}{who}: {self.message}"


def safe_ligand_id(name: str) -> str:
    """A path- and shell-safe ID for a ligand name, stable across runs and sheet orders.

    Names that are already safe are kept as they are. Any other name is reduced to
    [A-Za-z0-9_-] and gets an 8-hex-digit hash of the original name, so two different names
    can never collapse to one ID (e.g. 'a b' and 'a/b'). No '/', '..', space or shell
    metacharacter survives.
    """
    already_safe = (
        _UNSAFE_ID_CHARACTERS.search(name) is None
        and 0 < len(name) <= MAX_ID_LENGTH
        and not name.startswith(("-", "_"))
    )
    if already_safe:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    stem = _UNSAFE_ID_CHARACTERS.sub("_", name).strip("_-")[: MAX_ID_LENGTH - 9]
    return f"{stem}-{digest}" if stem else f"ligand-{digest}"


def check_sheet_size(path: str | Path, max_bytes: int) -> None:
    """Refuse a sheet over `max_bytes` (config limits.sheet_max_bytes) by its size alone,
    before a byte of it is read or hashed."""
    size = Path(path).stat().st_size
    if size > max_bytes:
        raise SheetError(
            f"ligand sheet '{path}' is {size / 1024**2:,.1f} MiB ({size:,} bytes), more than "
            f"limits.sheet_max_bytes ({max_bytes:,} bytes); split it into several screens, or "
            "raise the limit if this machine has the memory (validation needs about "
            f"{READ_MEMORY_PER_SHEET_BYTE} times the file's size)"
        )


def read_sheet(path: str | Path) -> pd.DataFrame:
    """Read the sheet with every cell as text (no NaN, no type guessing of names like '1e5').

    The frame's index is each row's line in the file (the line its record starts on), so
    blank lines and quoted cells spanning several lines do not shift the numbers that error
    messages show. Blank lines are skipped; column names are stripped of surrounding spaces.
    """
    path = Path(path)
    separator = "\t" if path.suffix.lower() in (".tsv", ".tab", ".txt") else ","
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark.
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=separator, skipinitialspace=True)
            next_line = 1
            for record in reader:
                record_line, next_line = next_line, reader.line_num + 1
                if not record:
                    continue
                _check_no_nul(record, record_line, path)
                if header is None:
                    header = [cell.strip() for cell in record]
                    continue
                if len(record) > len(header):
                    raise SheetError(
                        f"ligand sheet '{path}' line {record_line} has {len(record)} cells but "
                        f"the header names {len(header)} columns; quote cells that contain "
                        f"{separator!r}"
                    )
                rows.append(record + [""] * (len(header) - len(record)))
                lines.append(record_line)
    except csv.Error as error:
        raise SheetError(f"ligand sheet '{path}' cannot be parsed as CSV/TSV: {error}") from None
    except UnicodeDecodeError:
        raise SheetError(f"ligand sheet '{path}' {_not_utf8(path)}") from None
    if header is None:
        message = f"ligand sheet '{path}' is empty: add a header 'name,smiles' and rows"
        raise SheetError(message)
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(lines, name="line"), dtype=str)
    return _without_unnamed_empty_columns(frame, path)


def _check_no_nul(record: list[str], line: int, path: Path) -> None:
    """A NUL byte never belongs in a text sheet (and would cut a cell short in the cache)."""
    for column, cell in enumerate(record, 1):
        if "\x00" in cell:
            raise SheetError(
                f"ligand sheet '{path}' line {line}, column {column}: holds a NUL byte, which "
                "no text sheet has: is it UTF-16 ('Unicode Text') or a binary file? Save it as "
                "'CSV UTF-8'"
            )


def _not_utf8(path: Path) -> str:
    """Why the file is not UTF-8 text: what it seems to be, or its first undecodable byte."""
    with open(path, "rb") as handle:
        start = handle.read(8)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "is UTF-16 text (Excel's 'Unicode Text'): save it as 'CSV UTF-8'"
        if start.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            return "is a spreadsheet workbook (.xlsx/.xls), not text: save it as 'CSV UTF-8'"
        handle.seek(0)
        offset = 0
        for number, line in enumerate(handle, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = line[error.start : error.start + 1]
                try:
                    seems = f" ('{byte.decode('cp1252')}' in Windows-1252, Latin-1's superset)"
                except UnicodeDecodeError:
                    seems = ""
                return (
                    f"is not UTF-8: line {number}, byte {error.start + 1} (byte "
                    f"{offset + error.start + 1:,} of the file) is 0x{byte.hex().upper()}{seems}. "
                    "Save the sheet as UTF-8 ('CSV UTF-8' in Excel; or "
                    "`iconv -f WINDOWS-1252 -t UTF-8 old.csv > new.csv`)"
                )
            offset += len(line)
    return "is not UTF-8 text: save it as 'CSV UTF-8'"


def _without_unnamed_empty_columns(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Drop the empty, unnamed columns a trailing separator makes; reject unnamed data."""
    unnamed = [position for position, column in enumerate(frame.columns) if not column]
    for position in unnamed:
        filled = frame.iloc[:, position] != ""
        if filled.any():
            raise SheetError(
                f"ligand sheet '{path}' column {position + 1} has no name in the header but "
                f"holds data (first on line {filled.idxmax()}); name it or remove it"
            )
    keep = [position for position in range(frame.shape[1]) if position not in unnamed]
    return frame.iloc[:, keep]


def _check_columns(frame: pd.DataFrame, path: Path) -> None:
    spellings: dict[str, list[str]] = {}
    for column in frame.columns:
        spellings.setdefault(column.casefold(), []).append(column)
    repeated = [names for names in spellings.values() if len(names) > 1]
    if repeated:
        listed = "; ".join(" and ".join(repr(name) for name in names) for names in repeated)
        raise SheetError(
            f"ligand sheet '{path}' repeats a column: {listed} (column names are compared "
            "ignoring case and surrounding spaces); keep one column of each name"
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if not any(column in frame.columns for column in MOLECULE_COLUMNS):
        missing.append("smiles")
    if missing:
        found = ", ".join(repr(c) for c in frame.columns) or "none"
        raise SheetError(
            f"ligand sheet '{path}' lacks the column(s) {', '.join(repr(m) for m in missing)} "
            f"(found: {found}); the header must name 'name' and 'smiles' (lower case), or "
            "'ccd' for ligands by CCD code"
        )
    reserved = [c for c in frame.columns if c in GENERATED_COLUMNS]
    if reserved:
        raise SheetError(
            f"ligand sheet '{path}' has column(s) {reserved} whose names the workflow uses for "
            "its own columns; rename them (e.g. 'sheet_index')"
        )
    if frame.empty:
        raise SheetError(f"ligand sheet '{path}' has a header but no ligand rows")


def molecule_identities(ligands: pd.DataFrame) -> pd.Series:
    """Each validated row's molecule as keys and de-duplication know it: its modelled SMILES,
    or `ccd:<CODE>` for a row by CCD code (Boltz models it from the cache's molecule, atoms
    and names included, not from a SMILES)."""
    if "ccd" not in ligands.columns:
        return ligands["modeled_smiles"]
    by_code = ligands["ccd"].fillna("") != ""
    return ligands["modeled_smiles"].where(~by_code, CCD_IDENTITY_PREFIX + ligands["ccd"])


def _ccd_ligand(code: str, *, affinity: bool, ccd_molecules: CcdMolecules | None) -> PreparedLigand:
    """A row by CCD code: validated against Boltz's molecule cache when it is here, with the
    cache molecule's SMILES (for depictions; Boltz models the molecule itself, unstandardised:
    schema.py standardises SMILES ligands only)."""
    if not re.match(CCD_PATTERN, code):
        raise LigandProblem(f"column 'ccd': '{code}' is not a CCD code (1-5 letters or digits)")
    if ccd_molecules is None:
        return PreparedLigand("", "", 0, (), ())
    try:
        molecule = ccd_molecules(code)
    except LookupError as problem:
        raise LigandProblem(f"column 'ccd': {problem.args[0]}") from None
    ccd_atoms_check(code, molecule)
    from rdkit import Chem

    # For a CCD affinity ligand Boltz counts the cache molecule's atoms, hydrogens included
    # (`ref_mol.GetNumAtoms()` in the `ccd` branch of parse_boltz_schema,
    # boltz/data/parse/schema.py): it refuses more than 128 and warns above 56.
    atoms = molecule.GetNumAtoms()
    if affinity and atoms > MAX_AFFINITY_ATOMS:
        raise LigandProblem(
            f"column 'ccd': {code} has {atoms} atoms with its hydrogens; Boltz's affinity "
            f"module takes at most {MAX_AFFINITY_ATOMS}"
        )
    flags = (FLAG_LARGE,) if affinity and atoms > MAX_TRAINING_ATOMS else ()
    smiles = Chem.MolToSmiles(Chem.RemoveHs(molecule, sanitize=False))
    return PreparedLigand(smiles, smiles, molecule.GetNumHeavyAtoms(), (), flags)


def _prepare_rows(
    smiles_cells: list[str],
    ccd_cells: list[str] | None,
    *,
    affinity: bool,
    salts: str,
    workers: int | None,
    ccd_molecules: CcdMolecules | None,
    prepare: PrepareSmiles,
) -> list[PreparedLigand | LigandProblem]:
    """Each row's molecule (or its problem): its SMILES prepared (`prepare_ligands`), or its
    CCD code checked; exactly one of the two cells must be filled (`ccd_cells` None: the
    sheet has no `ccd` column)."""
    if ccd_cells is None:
        return prepare(smiles_cells, affinity=affinity, salts=salts, workers=workers)
    by_smiles = [i for i, (s, c) in enumerate(zip(smiles_cells, ccd_cells, strict=True)) if not c]
    prepared_smiles = iter(
        prepare(
            [smiles_cells[i] for i in by_smiles], affinity=affinity, salts=salts, workers=workers
        )
    )
    prepared: list[PreparedLigand | LigandProblem] = []
    for smiles, code in zip(smiles_cells, ccd_cells, strict=True):
        if not code and not smiles:
            next(prepared_smiles)
            prepared.append(
                LigandProblem("neither column 'smiles' nor column 'ccd' is filled; give one")
            )
        elif not code:
            prepared.append(next(prepared_smiles))
        elif smiles:
            prepared.append(
                LigandProblem(
                    "both column 'smiles' and column 'ccd' are filled; give the ligand by one "
                    "of them"
                )
            )
        else:
            try:
                prepared.append(_ccd_ligand(code, affinity=affinity, ccd_molecules=ccd_molecules))
            except LigandProblem as problem:
                prepared.append(problem)
    return prepared


def validate_sheet(
    path: str | Path,
    *,
    affinity: bool,
    salts: str = "strip",
    workers: int | None = None,
    ccd_molecules: CcdMolecules | None = None,
    prepare: PrepareSmiles = prepare_ligands,
) -> pd.DataFrame:
    """Validate a ligand sheet and return it with the columns the workflow needs.

    Returned columns: `line` (1-based line in the file), `index` (1-based ligand number),
    `name`, `ligand_id`, `smiles` (as written), `ccd` (when the sheet has it: the row's CCD
    code, upper case), `canonical_smiles` (RDKit's, of the input), `modeled_smiles` (what
    Boltz models; a CCD row's molecule's SMILES from the cache, empty without it),
    `standardisation` (what changed, '; '-separated), `flags` (';'-separated codes of
    `omtx_hub.result_tables.LIGAND_FLAGS`), `heavy_atoms` (of the modelled molecule), then the
    sheet's own extra columns. `salts` is `ligands.salts`; `workers`: processes
    (`omtx_hub.chemistry.prepare_ligands`); `ccd_molecules`: the molecule of a CCD code in
    Boltz's molecule cache (omtx_hub.molecule_cache.ccd_lookup), against which CCD codes are
    checked when the cache is here (None: not checked); `prepare`: what prepares the SMILES
    cells (`prepare_ligands`, or the same through the molecules validated before:
    omtx_hub.validated_molecules). Raises SheetError listing every
    problem found.
    """
    path = Path(path)
    if not path.is_file():
        raise SheetError(f"ligand sheet '{path}' does not exist")
    frame = read_sheet(path)
    _check_columns(frame, path)

    problems: list[SheetProblem] = []
    names = frame["name"].str.strip().tolist()
    smiles_cells = frame["smiles"].str.strip().tolist() if "smiles" in frame else [""] * len(frame)
    ccd_cells = frame["ccd"].str.strip().str.upper().tolist() if "ccd" in frame else None
    lines = list(frame.index)

    first_line_of_name: dict[str, int] = {}
    first_name_of_id: dict[str, str] = {}
    ligand_ids: list[str] = []
    for line, name in zip(lines, names, strict=True):
        if not name:
            problems.append(SheetProblem(line, None, "the name cell is empty"))
        elif control := _CONTROL_CHARACTER.search(name):
            problems.append(
                SheetProblem(
                    line,
                    name,
                    f"the name holds the control character U+{ord(control.group()):04X} (a line "
                    "break, tab or the like); a name is one line of printable text",
                )
            )
        elif name in first_line_of_name:
            problems.append(
                SheetProblem(
                    line,
                    name,
                    f"duplicate name; first used on line "
                    f"{first_line_of_name[name]}. Names must be unique",
                )
            )
        else:
            first_line_of_name[name] = line
        ligand_id = safe_ligand_id(name)
        if name and first_name_of_id.setdefault(ligand_id, name) != name:
            problems.append(
                SheetProblem(
                    line,
                    name,
                    f"its safe ID {ligand_id!r} equals that of "
                    f"{first_name_of_id[ligand_id]!r}; rename one of them",
                )
            )
        ligand_ids.append(ligand_id)

    prepared = _prepare_rows(
        smiles_cells,
        ccd_cells,
        affinity=affinity,
        salts=salts,
        workers=workers,
        ccd_molecules=ccd_molecules,
        prepare=prepare,
    )
    for line, name, result in zip(lines, names, prepared, strict=True):
        if isinstance(result, LigandProblem):
            problems.append(SheetProblem(line, name or None, str(result)))

    if problems:
        problems.sort(key=lambda problem: problem.line or 0)
        shown = "\n  - ".join(str(p) for p in problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        tail = f"\n  ... and {more} more problem(s)" if more > 0 else ""
        raise SheetError(
            f"ligand sheet '{path}' has {len(problems)} problem(s); fix them and rerun "
            f"(nothing was computed):\n  - {shown}{tail}"
        )

    extra_columns = [c for c in frame.columns if c not in (*REQUIRED_COLUMNS, *MOLECULE_COLUMNS)]
    validated = pd.DataFrame(
        {
            "line": lines,
            "index": range(1, len(frame) + 1),
            "name": names,
            "ligand_id": ligand_ids,
            "smiles": smiles_cells,
            **({"ccd": ccd_cells} if ccd_cells is not None else {}),
            "canonical_smiles": [ligand.canonical_smiles for ligand in prepared],
            "modeled_smiles": [ligand.modeled_smiles for ligand in prepared],
            "standardisation": [
                CHANGES_SEPARATOR.join(ligand.standardisation) for ligand in prepared
            ],
            "flags": [FLAGS_SEPARATOR.join(ligand.flags) for ligand in prepared],
            "heavy_atoms": [ligand.heavy_atoms for ligand in prepared],
        }
    )
    for column in extra_columns:
        validated[column] = frame[column].to_numpy()
    return validated
