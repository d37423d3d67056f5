"""The ligand sheet: reading, validation, the molecule Boltz models and safe IDs.

A sheet is a CSV (or TSV) with at least the columns `name` and `smiles` (or `ccd`: a ligand by
its code in the PDB's Chemical Component Dictionary, which Boltz takes from its molecule
cache; each row gives exactly one of the two), or `name` and `sequence` for a binder-sequence
screen (omtx_hub.binders); any other columns are carried through to the results. Each SMILES
becomes the molecule Boltz models (`omtx_hub.chemistry`). Every problem is reported at once,
each naming the line of the file, so a chemist can fix a 10,000-row sheet in one pass before
any GPU time is spent.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from omtx_hub.binders import BINDER_COLUMNS, SEQUENCE_COLUMN, BinderProblem, binder_of_row
from omtx_hub.chemistry import (
    MAX_AFFINITY_ATOMS,
    LigandProblem,
    PreparedLigand,
    ccd_atoms_check,
    prepare_ligands,
)
from omtx_hub.credentials import credentials_file_kind
from omtx_hub.paths import file_problem
from omtx_hub.receptor import CCD_PATTERN
from omtx_hub.records import Binder
from omtx_hub.result_tables import (
    FLAG_BINDER_NO_MSA,
    FLAG_LARGE,
    FLAGS_SEPARATOR,
    MAX_TRAINING_ATOMS,
    SHEET_COLUMN_PREFIX,
    result_column_of_sheet_column,
)

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
# A validated binder sheet's columns from its `sequence`, `chain_type`, `msa` and `cyclic`
# cells (`msa` so named apart from the results' receptor `msa` column).
BINDER_SHEET_COLUMNS = ("sequence", "chain_type", "binder_msa", "cyclic")
MAX_ID_LENGTH = 64
MAX_LISTED_PROBLEMS = 25
# Peak memory of reading and validating a sheet, per byte of the file (13.6-17.4 measured by
# benchmarks/sheet_memory.py); quoted when a sheet is refused by limits.sheet_max_bytes.
READ_MEMORY_PER_SHEET_BYTE = 15
# Bumped whenever validation or standardisation changes, so cached sheets are redone.
VALIDATOR_VERSION = "8"
# The longest SMILES cell given to RDKit. RDKit crashes the process (a segmentation fault,
# no message) on a 20,000-atom chain ('C' * 20000; 10,000 passed), and Boltz names a ligand's
# atoms element + rank in 4 characters, so no molecule of more than 999 atoms of one element
# can be modelled; the largest drug-like ligands, macrocycles and peptides included, are
# a few hundred characters.
MAX_SMILES_CHARACTERS = 4000
# The widest sheet: a ligand sheet has a name, a molecule and some notes; each column is
# carried into every row of batch_results.csv and the dashboard.
MAX_COLUMNS = 1000
# The longest cell the csv module reads (its field_size_limit, which is global to the
# process and left as it is).
MAX_CELL_CHARACTERS = csv.field_size_limit()
# How much of the file's start is looked at to tell what it is, when it is no text sheet.
SNIFFED_BYTES = 65536

_UNSAFE_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]+")
# C0 and C1 control characters (line breaks, tabs, NUL, escape...) and the Unicode line and
# paragraph separators.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Characters that show nothing: besides the Unicode categories of format characters (Cf:
# zero-width space, joiners, direction marks, the byte-order mark), separators (Z*) and
# combining marks (M*), the letters that fonts draw blank (Hangul fillers, the braille blank).
_INVISIBLE_CATEGORIES = ("Cf", "Zs", "Zl", "Zp", "Mn", "Me")
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# What a file that is no text sheet starts with, and what it is.
_DECOMPRESS = "not text: decompress it (`{}`) and give the decompressed .csv"
_FILE_SIGNATURES = (
    (rb"\x1f\x8b", "is gzip-compressed, " + _DECOMPRESS.format("gunzip -k FILE")),
    (rb"BZh[1-9]1AY&SY", "is bzip2-compressed, " + _DECOMPRESS.format("bunzip2 -k FILE")),
    (rb"\xfd7zXZ\x00", "is xz-compressed, " + _DECOMPRESS.format("unxz -k FILE")),
    (rb"\x28\xb5\x2f\xfd", "is zstd-compressed, " + _DECOMPRESS.format("unzstd FILE")),
    (
        rb"PK\x03\x04",
        "is a spreadsheet workbook (.xlsx/.xls), not text: save it as 'CSV UTF-8' (a zip "
        "archive: unzip it)",
    ),
    (rb"\xd0\xcf\x11\xe0", "is a spreadsheet workbook (.xls), not text: save it as 'CSV UTF-8'"),
    (rb"\xff\xfe\x00\x00|\x00\x00\xfe\xff", "is UTF-32 text: save it as 'CSV UTF-8'"),
    (rb"\xff\xfe|\xfe\xff", "is UTF-16 text (Excel's 'Unicode Text'): save it as 'CSV UTF-8'"),
)
# Bytes no text sheet holds (C0 controls but tab, line feed, form feed, carriage return and
# escape): a file of which more than this share are such bytes is binary.
_BINARY_BYTES = bytes([*range(0, 9), 11, *range(14, 27), *range(28, 32)])
BINARY_SHARE = 0.1


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
    A file that is no text sheet (compressed, a workbook, UTF-16, binary, a credentials file)
    is refused by what it is, before it is parsed.
    """
    path = Path(path)
    if problem := file_problem(str(path)):
        raise SheetError(f"ligand sheet '{path}' {problem}")
    if problem := _not_a_text_sheet(path):
        raise SheetError(f"ligand sheet '{path}' {problem}")
    separator = "\t" if path.suffix.lower() in (".tsv", ".tab", ".txt") else ","
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark.
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=separator, skipinitialspace=True)
            next_line = 1
            try:
                for record in reader:
                    record_line, next_line = next_line, reader.line_num + 1
                    if not record:
                        continue
                    _check_no_nul(record, record_line, path)
                    if header is None:
                        header = [cell.strip() for cell in record]
                        _check_width(len(header), record_line, path)
                        continue
                    if len(record) > len(header):
                        raise SheetError(
                            f"ligand sheet '{path}' line {record_line} has {len(record):,} "
                            f"cells but the header names {len(header):,} columns; quote cells "
                            f"that contain {separator!r}"
                        )
                    rows.append(record + [""] * (len(header) - len(record)))
                    lines.append(record_line)
            except csv.Error as error:
                raise SheetError(
                    f"ligand sheet '{path}' line {reader.line_num} {_csv_problem(error)}"
                ) from None
    except UnicodeDecodeError:
        raise SheetError(f"ligand sheet '{path}' {_not_utf8(path)}") from None
    except OSError as error:
        raise SheetError(f"ligand sheet '{path}' cannot be read: {error}") from None
    if header is None:
        message = f"ligand sheet '{path}' is empty: add a header 'name,smiles' and rows"
        raise SheetError(message)
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(lines, name="line"), dtype=str)
    return _without_unnamed_empty_columns(frame, path)


def _check_width(columns: int, line: int, path: Path) -> None:
    if columns > MAX_COLUMNS:
        raise SheetError(
            f"ligand sheet '{path}' line {line} (the header) names {columns:,} columns, more "
            f"than {MAX_COLUMNS:,}: a ligand sheet has a name, a molecule and some notes, each "
            "carried into every row of the results; keep other data (descriptors, "
            "fingerprints) in a file of its own and join it to the results by name"
        )


def _csv_problem(error: csv.Error) -> str:
    """The csv module's complaint, worded for the sheet (after 'line N')."""
    if "field larger than field limit" in str(error):
        return (
            f"has a cell longer than {MAX_CELL_CHARACTERS:,} characters (the most a cell may "
            "hold; a quote left open makes the rest of the file one cell): close the quote, or "
            "shorten the cell"
        )
    return f"cannot be parsed as CSV/TSV: {error}"


def _check_no_nul(record: list[str], line: int, path: Path) -> None:
    """A NUL byte never belongs in a text sheet (and would cut a cell short in the cache)."""
    for column, cell in enumerate(record, 1):
        if "\x00" in cell:
            raise SheetError(
                f"ligand sheet '{path}' line {line}, column {column}: holds a NUL byte, which "
                "no text sheet has: is it UTF-16 ('Unicode Text') or a binary file? Save it as "
                "'CSV UTF-8'"
            )


def _not_a_text_sheet(path: Path) -> str | None:
    """What the file is, from its first bytes, when it is no text sheet: compressed, a
    workbook, UTF-16 or UTF-32 (with or without a byte-order mark), binary, or a credentials
    file (named by its kind; nothing of it is shown)."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(SNIFFED_BYTES)
    except OSError as error:
        return f"cannot be read: {error}"
    for signature, what in _FILE_SIGNATURES:
        if re.match(signature, start):
            return what
    if utf16 := _utf16_without_bom(start):
        return (
            f"is UTF-16 text ({utf16}) without a byte-order mark: save it as 'CSV UTF-8' "
            f"(or `iconv -f {utf16} -t UTF-8 old.csv > new.csv`)"
        )
    if start and sum(start.count(byte) for byte in _BINARY_BYTES) > BINARY_SHARE * len(start):
        return "is a binary file, not text: give a CSV or TSV sheet saved as 'CSV UTF-8'"
    if kind := credentials_file_kind(start.decode("utf-8", errors="replace")):
        return (
            f"looks like a credentials file ({kind}), not a ligand sheet: check ligands.sheet "
            "(nothing of the file is shown here; keep credentials out of the screen's files)"
        )
    return None


def _utf16_without_bom(start: bytes) -> str | None:
    """'UTF-16LE' or 'UTF-16BE' when the text is UTF-16 without a byte-order mark: the high
    byte of every ASCII character (a sheet's header, commas, SMILES) is NUL, so most bytes at
    odd positions (little-endian) or at even ones (big-endian) are NUL."""
    pairs = len(start) // 2
    if pairs < 2:
        return None
    if start[1::2].count(0) > pairs / 2 and start[0::2].count(0) < pairs / 4:
        return "UTF-16LE"
    if start[0::2].count(0) > pairs / 2 and start[1::2].count(0) < pairs / 4:
        return "UTF-16BE"
    return None


def _not_utf8(path: Path) -> str:
    """The first byte that is not UTF-8, and what it seems to be."""
    with open(path, "rb") as handle:
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
    unnamed = {position for position, column in enumerate(frame.columns) if not column}
    for position in sorted(unnamed):
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
    if not any(column in frame.columns for column in (*MOLECULE_COLUMNS, SEQUENCE_COLUMN)):
        missing.append("smiles")
    if missing:
        found = ", ".join(repr(c) for c in frame.columns) or "none"
        raise SheetError(
            f"ligand sheet '{path}' lacks the column(s) {', '.join(repr(m) for m in missing)} "
            f"(found: {found}); the header must name 'name' and 'smiles' (lower case), or "
            "'ccd' for ligands by CCD code, or 'sequence' for a binder-sequence screen"
        )
    generated = (*GENERATED_COLUMNS, "binder_msa")
    reserved = [c for c in frame.columns if c in generated]
    if reserved:
        raise SheetError(
            f"ligand sheet '{path}' has column(s) {reserved} whose names the workflow uses for "
            "its own columns; rename them (e.g. 'sheet_index')"
        )
    _check_result_columns(frame, path)
    if frame.empty:
        raise SheetError(f"ligand sheet '{path}' has a header but no ligand rows")


def sheet_own_columns(columns) -> list[str]:
    """Of a sheet's or a validated sheet's `columns`, those the sheet brings besides `name`,
    `smiles` and `ccd` (and a binder sheet's `sequence`, `chain_type`, `msa`, `cyclic`),
    carried to the results."""
    known = {*REQUIRED_COLUMNS, *MOLECULE_COLUMNS, *GENERATED_COLUMNS}
    if SEQUENCE_COLUMN in columns:
        known |= {*BINDER_COLUMNS, *BINDER_SHEET_COLUMNS}
    return [c for c in columns if c not in known]


def is_binder_sheet(columns) -> bool:
    """Whether a sheet (or validated sheet) of these columns screens binder sequences."""
    return SEQUENCE_COLUMN in columns


def _check_result_columns(frame: pd.DataFrame, path: Path) -> None:
    """Refuse two of the sheet's own columns that would have one name in batch_results.csv
    (`status` is written as `sheet_status`, so a sheet may not have both)."""
    first_of: dict[str, str] = {}
    for column in sheet_own_columns(frame.columns):
        written = result_column_of_sheet_column(column)
        if first_of.setdefault(written, column) != column:
            raise SheetError(
                f"ligand sheet '{path}' has the columns {first_of[written]!r} and {column!r}, "
                f"which would both be {written!r} in batch_results.csv (a column named like one "
                f"of the results' own gets the prefix {SHEET_COLUMN_PREFIX!r}); rename one"
            )


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
    # The training range is in heavy atoms, which Boltz's SMILES branch counts (atoms after
    # RemoveHs(sanitize=False)); its ccd branch warns on the count with hydrogens, which
    # would flag a 37-heavy-atom ligand. The flag counts a CCD ligand as a SMILES one.
    without_hydrogens = Chem.RemoveHs(molecule, sanitize=False)
    large = affinity and without_hydrogens.GetNumAtoms() > MAX_TRAINING_ATOMS
    smiles = Chem.MolToSmiles(without_hydrogens)
    flags = (FLAG_LARGE,) if large else ()
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
    sheet has no `ccd` column). A SMILES longer than MAX_SMILES_CHARACTERS never reaches
    RDKit."""
    codes = ccd_cells if ccd_cells is not None else [""] * len(smiles_cells)
    decided: list[PreparedLigand | LigandProblem | None] = []
    for smiles, code in zip(smiles_cells, codes, strict=True):
        if code and smiles:
            decided.append(
                LigandProblem(
                    "both column 'smiles' and column 'ccd' are filled; give the ligand by one "
                    "of them"
                )
            )
        elif code:
            try:
                decided.append(_ccd_ligand(code, affinity=affinity, ccd_molecules=ccd_molecules))
            except LigandProblem as problem:
                decided.append(problem)
        elif not smiles and ccd_cells is not None:
            decided.append(
                LigandProblem("neither column 'smiles' nor column 'ccd' is filled; give one")
            )
        elif len(smiles) > MAX_SMILES_CHARACTERS:
            decided.append(
                LigandProblem(
                    f"the smiles cell has {len(smiles):,} characters, more than "
                    f"{MAX_SMILES_CHARACTERS:,}: no ligand Boltz can model is that long (it "
                    "names at most 999 atoms of an element), and RDKit crashes on some such "
                    "SMILES"
                )
            )
        else:
            decided.append(None)  # a SMILES for `prepare`
    pending = [smiles for smiles, result in zip(smiles_cells, decided, strict=True) if not result]
    prepared = iter(prepare(pending, affinity=affinity, salts=salts, workers=workers))
    return [result if result is not None else next(prepared) for result in decided]


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
    frame = read_sheet(path)
    _check_columns(frame, path)

    problems: list[SheetProblem] = []
    # NFC: one form of each accented letter (a name typed on a Mac, NFD, and the same name
    # typed elsewhere are one name), kept so; keys never hold names.
    names = [unicodedata.normalize("NFC", name) for name in frame["name"].str.strip()]
    smiles_cells = frame["smiles"].str.strip().tolist() if "smiles" in frame else [""] * len(frame)
    ccd_cells = frame["ccd"].str.strip().str.upper().tolist() if "ccd" in frame else None
    lines = list(frame.index)

    first_of_look: dict[str, tuple[int, str]] = {}
    first_name_of_id: dict[str, str] = {}
    ligand_ids: list[str] = []
    for line, name in zip(lines, names, strict=True):
        if problem := _name_problem(name, line, first_of_look):
            problems.append(SheetProblem(line, name or None, problem))
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

    binders = None
    if is_binder_sheet(frame.columns):
        binders = _binder_rows(frame, smiles_cells, ccd_cells, affinity=affinity)
        prepared = [_binder_flags(b) if isinstance(b, Binder) else b for b in binders]
    else:
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
        if isinstance(result, LigandProblem | BinderProblem):
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
            **(_binder_columns(binders) if binders is not None else {}),
            # All at once: adding a thousand columns one by one copies the frame each time.
            **{column: frame[column].to_numpy() for column in sheet_own_columns(frame.columns)},
        }
    )
    return validated


def _binder_flags(binder: Binder) -> PreparedLigand:
    """A binder row's molecule columns (none) and its flags."""
    flags = (FLAG_BINDER_NO_MSA,) if binder.msa == "empty" else ()
    return PreparedLigand("", "", 0, (), flags)


def _binder_rows(
    frame: pd.DataFrame, smiles_cells: list[str], ccd_cells: list[str] | None, *, affinity: bool
) -> list[Binder | BinderProblem]:
    """Each row of a binder sheet as its binder (omtx_hub.binders.binder_of_row), or its
    problem: a row that also gives a molecule, or a binder screen with affinity."""
    if affinity:
        raise SheetError(
            "a binder-sequence sheet (column 'sequence') needs model.affinity: false: Boltz's "
            "affinity head takes a small-molecule ligand only (docs/prediction.md; "
            "parse_boltz_schema refuses a binder that is not a ligand), so binders are ranked "
            "by their interface confidence (binder_iptm)"
        )
    cells = {
        column: frame[column].str.strip().tolist() if column in frame else [""] * len(frame)
        for column in BINDER_COLUMNS
    }
    codes = ccd_cells if ccd_cells is not None else [""] * len(frame)
    rows: list[Binder | BinderProblem] = []
    for smiles, code, *binder_cells in zip(smiles_cells, codes, *cells.values(), strict=True):
        if smiles or code:
            given = "smiles" if smiles else "ccd"
            rows.append(
                BinderProblem(
                    f"both column 'sequence' and column '{given}' are filled: a screen is of "
                    "molecules or of binder sequences; put them in two sheets (two screens)"
                )
            )
            continue
        try:
            rows.append(binder_of_row(*binder_cells))
        except BinderProblem as problem:
            rows.append(problem)
    return rows


def _binder_columns(binders: list[Binder]) -> dict[str, list]:
    """The validated sheet's binder columns (BINDER_SHEET_COLUMNS) of valid rows."""
    return {
        "sequence": [binder.sequence for binder in binders],
        "chain_type": [binder.type for binder in binders],
        "binder_msa": [binder.msa or "" for binder in binders],
        "cyclic": ["true" if binder.cyclic else "false" for binder in binders],
    }


def binders_of(ligands: pd.DataFrame) -> list[Binder]:
    """Each row's binder, from a validated binder sheet's columns."""
    columns = (ligands[column].tolist() for column in BINDER_SHEET_COLUMNS)
    return [
        Binder(sequence=sequence, type=kind, msa=msa or None, cyclic=cyclic == "true")
        for sequence, kind, msa, cyclic in zip(*columns, strict=True)
    ]


def _name_problem(name: str, line: int, first_of_look: dict[str, tuple[int, str]]) -> str | None:
    """What is wrong with a (stripped, NFC) name, if anything; `first_of_look` holds the
    names seen so far by how they look (`_look`), and gets this one."""
    if not name:
        return "the name cell is empty"
    if control := _CONTROL_CHARACTER.search(name):
        return (
            f"the name holds the control character U+{ord(control.group()):04X} (a line break, "
            "tab or the like); a name is one line of printable text"
        )
    if all(unicodedata.category(c) in _INVISIBLE_CATEGORIES or c in _BLANK_LETTERS for c in name):
        shown = " ".join(f"U+{ord(c):04X}" for c in name[:5]) + (" ..." if len(name) > 5 else "")
        return (
            f"the name shows nothing: it is only invisible characters ({shown}, zero-width or "
            "blank ones); give a name one can read"
        )
    look = _look(name)
    first_line, first_name = first_of_look.setdefault(look, (line, name))
    if first_line == line:
        return None
    if first_name == name:
        return f"duplicate name; first used on line {first_line}. Names must be unique"
    return (
        f"the name looks the same as {first_name!r} on line {first_line}: they differ only in "
        "Unicode forms (full-width letters, ligatures, invisible characters); names must be "
        "unique, rename one"
    )


def _look(name: str) -> str:
    """How a name looks: its NFKC form (full-width letters, ligatures and other compatibility
    forms as the plain letters) without invisible format characters (zero-width ones, direction
    marks): two names that look alike have one `_look`."""
    if name.isascii():  # NFKC keeps ASCII as it is, and no ASCII character is a format one
        return name
    compatible = unicodedata.normalize("NFKC", name)
    return "".join(c for c in compatible if unicodedata.category(c) != "Cf")
