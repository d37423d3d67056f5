"""The table of all targets as data files beside the page, loaded a piece at a time.

A million-row screen cannot be one page: its table would be hundreds of MB of JSON that the
browser parses before showing anything. The page instead carries the table's description (its
columns, row count, chunk size) and loads *pieces*, each a small script `data/<piece>.js`
that hands its JSON to `window.omtxData(name, payload)` (browsers refuse fetch() on file://
pages, but load <script src> beside the page):

- `rows-<n>`: every column's values of rows n*CHUNK_ROWS ... (n+1)*CHUNK_ROWS-1, columnar, and
  each row's structure link (a consensus pair's Boltz-2 rows: Chai-1's structure's too): what
  a page of the table and the selected target's details show;
- `order-<c>`: the rows in ascending order of shown column number c (missing values last, ties
  in the table's order, as base64 int32), and which rows tie with the one before (base64
  uint8): a sort is a lookup, and the page derives the descending order from it;
- `column-<key>`: a column the filters test, for every row (numbers as base64 float64 with NaN
  for missing; text as a dictionary of its distinct values and base64 uint32 codes); the
  `triage` column's is the rules each row fails without the values they quote
  (omtx_hub.result_tables.triage_rules), so its dictionary has one entry per combination of
  failed rules, not one per row;
- `search-<n>`: one text, the lower-cased texts the search box looks in of rows n*SEARCH_ROWS
  ..., one row after another (a scan of one long string is far faster than a test per row).

Piece names use column numbers, never a sheet's own column names, so no name reaches a path.
The values are rounded and written exactly as the page shows them; the orders are computed on
those rounded values, so a sort agrees with what it shows. Every payload goes through
`script_json` (no '<', '>' or '&' survives), so no sheet value can end the script or inject
markup; the page writes every value with textContent.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from omtx_hub.records import TRIAGE_COLUMN
from omtx_hub.result_tables import triage_rules

DATA_FOLDER = "data"
# Rows per `rows-<n>` piece: small, because a page of a sort over a whole screen may need a
# row from as many pieces as it has rows (100 pieces of ~37 KB); a million rows are 10,000.
CHUNK_ROWS = 100
SIGNIFICANT_DIGITS = 4
# The columns the filters test (besides the search box), loaded in the background.
FILTER_COLUMNS = ("affinity_probability_binary", "affinity_pred_value", "confidence_score")
# posebusters_pass: "True", "False" or missing (not checked).
FILTER_TEXT_COLUMNS = ("status", "flags", "posebusters_pass")
# Rows per `search-<n>` piece: the page reads each in one go, while the table stays usable.
SEARCH_ROWS = 100_000
SEARCHED_COLUMNS = ("ligand_name", "ligand_id", "modeled_smiles", "smiles")


def script_json(value) -> str:
    """JSON that is safe inside <script type="application/json"> and as a script's literal: no
    '<', '>' or '&' is left to end the element or start a comment, whatever the sheet
    contained."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def rounded_array(series: pd.Series) -> np.ndarray:
    """Numbers as the page shows them: SIGNIFICANT_DIGITS significant digits, NaN if none."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    nonzero = np.isfinite(values) & (values != 0)
    decimals = np.zeros(len(values), dtype=int)
    decimals[nonzero] = SIGNIFICANT_DIGITS - 1 - np.floor(np.log10(np.abs(values[nonzero])))
    rounded = values.copy()
    # np.round takes one number of decimals: round each distinct one at once.
    for digits in np.unique(decimals[nonzero]):
        chosen = nonzero & (decimals == digits)
        rounded[chosen] = np.round(values[chosen], int(digits))
    rounded[~np.isfinite(values)] = np.nan
    return rounded


def numbers(values: np.ndarray) -> list:
    """JSON numbers: None for NaN."""
    return [None if math.isnan(v) else v for v in values.tolist()]


def texts(series: pd.Series) -> list:
    return [
        None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v)
        for v in series.astype(object).tolist()
    ]


def _base64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def ascending_order(values: np.ndarray | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers in ascending order of `values` (missing last, ties in row order), and for
    each place whether its value equals the one before (so the page can reverse the order and
    keep ties in row order)."""
    if isinstance(values, np.ndarray):
        order = np.argsort(values, kind="stable")  # NaN sorts last
        ordered = values[order]
        ties = np.zeros(len(values), dtype=bool)
        ties[1:] = ordered[1:] == ordered[:-1]  # NaN never equals: missing are no ties
        return order, ties
    # Arrow's sort is stable; its string order is the code points'.
    order = pc.array_sort_indices(values, null_placement="at_end").to_numpy()
    ordered = values.take(pa.array(order))
    ties = np.zeros(len(values), dtype=bool)
    if len(values) > 1:
        equal = pc.equal(ordered[1:], ordered[:-1])
        ties[1:] = equal.fill_null(False).to_numpy(zero_copy_only=False)
    return order, ties


def dictionary(values: pa.ChunkedArray) -> dict:
    """A text column as its distinct values (null for missing) and each row's code."""
    encoded = pc.dictionary_encode(values, null_encoding="encode").combine_chunks()
    return {
        "names": encoded.dictionary.to_pylist(),
        "codes": _base64(encoded.indices.to_numpy(zero_copy_only=False), "<u4"),
    }


# Joins a row's searched texts, and the rows of a `search-<n>` piece: characters no search
# box can hold, so no match of a query spans two texts or two rows (and none are left in them).
FIELD_SEPARATOR, ROW_SEPARATOR = "\u0001", "\u0000"


def searched_texts(shown: pa.Table) -> pa.ChunkedArray:
    """Per row, what the search box looks in, lower-cased (the page lower-cases the query):
    the name, the ligand ID, the modelled SMILES and the sheet's (each only where it differs
    from the text before it, which it would only repeat)."""
    parts = []
    for key in SEARCHED_COLUMNS:
        if key not in shown.column_names:
            continue
        text = pc.fill_null(shown[key], "")
        for separator in (FIELD_SEPARATOR, ROW_SEPARATOR):
            text = pc.replace_substring(text, separator, "")
        if parts:
            text = pc.if_else(pc.equal(text, parts[-1]), "", text)
        parts.append(text)
    separator = pa.scalar(FIELD_SEPARATOR, pa.large_string())
    return pc.utf8_lower(pc.binary_join_element_wise(*parts, separator))


class PieceWriter:
    """Writes `data/<piece>.js` files under a page's folder: into a new folder, which then
    replaces the old one as a whole (so no file is ever written into, a hard-linked one
    included, and no piece of an earlier render stays behind)."""

    def __init__(self, out_dir: Path):
        self.folder = out_dir / DATA_FOLDER
        self.staging = out_dir / f".{DATA_FOLDER}.{uuid.uuid4().hex}.partial"
        self.staging.mkdir(parents=True)

    def write(self, name: str, payload) -> str:
        call = f"window.omtxData({script_json(name)},{script_json(payload)});\n"
        (self.staging / f"{name}.js").write_text(call, encoding="utf-8")
        return name

    def finish(self) -> None:
        old = self.staging.with_name(f"{self.staging.name}.old")
        if self.folder.exists():
            os.replace(self.folder, old)
        os.replace(self.staging, self.folder)
        shutil.rmtree(old, ignore_errors=True)

    def abandon(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def chunk_bounds(rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, rows, CHUNK_ROWS):
        yield start, min(start + CHUNK_ROWS, rows)


def _arrow_column(series: pd.Series, rounded: np.ndarray | None) -> pa.Array:
    """A column as the page shows it, missing values null: numbers rounded, the rest text."""
    if rounded is not None:
        return pa.array(rounded, from_pandas=True)  # NaN -> null
    if isinstance(series.dtype, pd.StringDtype):
        return pa.array(series, type=pa.large_string(), from_pandas=True)
    return pa.array(texts(series), type=pa.large_string())


def write_table_pieces(
    table: pd.DataFrame, columns: list[dict], structures: Mapping[str, np.ndarray], out_dir: Path
) -> dict:
    """Every piece of `table` (see the module's docstring) under out_dir/data; returns what
    the page needs to find them: chunk size and count, the columns with pieces, and the
    pieces a small screen loads with the page. `structures`: per column of structure file
    names (`structure`, a consensus screen's `chai1_structure`), each row's page folder
    number (-1: none)."""
    writer = PieceWriter(out_dir)
    try:
        found = _write_pieces(writer, table, columns, structures)
    except BaseException:
        writer.abandon()
        raise
    writer.finish()
    return found


def _write_pieces(
    writer: PieceWriter,
    table: pd.DataFrame,
    columns: list[dict],
    structures: Mapping[str, np.ndarray],
) -> dict:
    numeric = {c["key"]: rounded_array(table[c["key"]]) for c in columns if c["type"] == "num"}
    keys = [c["key"] for c in columns]
    shown = pa.table({key: _arrow_column(table[key], numeric.get(key)) for key in keys})
    names = {column: _arrow_column(table[column], None) for column in structures}
    chunks = []
    for start, stop in chunk_bounds(len(table)):
        values = shown.slice(start, stop - start).to_pydict()
        # Each row's structure as [folder number, file name], or null.
        links = {
            column: [
                None if folder < 0 else [folder, name]
                for folder, name in zip(
                    folders[start:stop].tolist(),
                    names[column].slice(start, stop - start).to_pylist(),
                    strict=True,
                )
            ]
            for column, folders in structures.items()
        }
        chunks.append(writer.write(f"rows-{len(chunks)}", {"values": values, **links}))
    orders = {}
    for number, column in enumerate(columns):
        if not column["shown"]:
            continue
        key = column["key"]
        order, ties = ascending_order(numeric[key] if key in numeric else shown[key])
        payload = {
            "order": _base64(order, "<i4"),
            "ties": _base64(ties, "u1"),
            "missing": shown[key].null_count,
        }
        orders[key] = writer.write(f"order-{number}", payload)
    filters = {}
    for key in FILTER_COLUMNS:
        if key in numeric:
            filters[key] = writer.write(f"column-{key}", {"numbers": _base64(numeric[key], "<f8")})
    for key in FILTER_TEXT_COLUMNS:
        if key in shown.column_names:
            filters[key] = writer.write(f"column-{key}", dictionary(shown[key]))
    if TRIAGE_COLUMN in shown.column_names:
        rules = pa.array(triage_rules(table[TRIAGE_COLUMN]), type=pa.large_string())
        filters[TRIAGE_COLUMN] = writer.write(
            f"column-{TRIAGE_COLUMN}", dictionary(pa.chunked_array([rules]))
        )
    # A piece's rows at a time: the lower-cased texts of every row at once were the render's
    # largest memory at 10^6 rows.
    search = [
        writer.write(
            f"search-{n}",
            ROW_SEPARATOR.join(searched_texts(shown.slice(start, SEARCH_ROWS)).to_pylist()),
        )
        for n, start in enumerate(range(0, len(table), SEARCH_ROWS))
    ]
    everything = [*chunks, *orders.values(), *filters.values(), *search]
    return {
        "chunk_rows": CHUNK_ROWS,
        "chunks": len(chunks),
        "orders": orders,
        "filter_columns": filters,
        "search": search,
        "search_rows": SEARCH_ROWS,
        # Loaded with the page: the first rows; all of a screen that fits one chunk.
        "eager": everything if len(chunks) <= 1 else chunks[:1],
    }
