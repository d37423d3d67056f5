"""The table of all targets as data files beside the page, loaded a piece at a time.

A million-row screen cannot be one page: its table would be hundreds of MB of JSON that the
browser parses before showing anything. The page instead carries the table's description (its
columns, row count, chunk size) and loads *pieces*, each a small script `data/<piece>.js`
that hands its JSON to `window.omtxData(name, payload)` (browsers refuse fetch() on file://
pages, but load <script src> beside the page):

- `rows-<n>`: every column's values of rows n*CHUNK_ROWS ... (n+1)*CHUNK_ROWS-1, columnar, and
  each row's structure link: what a page of the table and the selected target's details show;
- `order-<c>`: the rows in ascending order of shown column number c (missing values last, ties
  in the table's order, as base64 int32), and which rows tie with the one before (base64
  uint8): a sort is a lookup, and the page derives the descending order from it;
- `column-<key>`: a column the filters test, for every row (numbers as base64 float64 with NaN
  for missing; text as a dictionary of its distinct values and base64 uint32 codes);
- `search`: per row, the lower-cased texts the search box looks in.

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
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from omtx_hub.fileio import write_atomically

DATA_FOLDER = "data"
# Rows per `rows-<n>` piece: small, because a page of a sort over a whole screen may need a
# row from as many pieces as it has rows; large enough that a million rows are 4,000 files.
CHUNK_ROWS = 250
SIGNIFICANT_DIGITS = 4
# The columns the filters test (besides the search box), loaded in the background.
FILTER_COLUMNS = ("affinity_probability_binary", "affinity_pred_value", "confidence_score")
FILTER_TEXT_COLUMNS = ("status", "flags")
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


def ascending_order(values: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers in ascending order of `values` (missing last, ties in row order), and for
    each place whether its value equals the one before (so the page can reverse the order and
    keep ties in row order)."""
    if isinstance(values, np.ndarray):
        order = np.argsort(values, kind="stable")  # NaN sorts last
        ordered = values[order]
        ties = np.zeros(len(values), dtype=bool)
        ties[1:] = ordered[1:] == ordered[:-1]  # NaN never equals: missing are no ties
        return order, ties
    column = pa.array(values, type=pa.large_string())
    # Arrow's sort is stable; its string order is the code points'.
    order = pc.array_sort_indices(column, null_placement="at_end").to_numpy()
    ordered = column.take(pa.array(order))
    ties = np.zeros(len(values), dtype=bool)
    if len(values) > 1:
        equal = pc.equal(ordered.slice(1), ordered.slice(0, len(values) - 1))
        ties[1:] = equal.fill_null(False).to_numpy(zero_copy_only=False)
    return order, ties


def dictionary(values: list) -> dict:
    """A text column as its distinct values (null for missing) and each row's code."""
    codes, names = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    return {
        "names": [None if pd.isna(n) else str(n) for n in names.tolist()],
        "codes": _base64(codes, "<u4"),
    }


def searched_texts(table: pd.DataFrame) -> list[str]:
    """Per row, what the search box looks in, lower-cased."""
    parts = [
        table[key].astype(object).where(table[key].notna(), "").astype(str)
        for key in SEARCHED_COLUMNS
        if key in table.columns
    ]
    joined = parts[0].str.cat(parts[1:], sep="\u0000") if parts else pd.Series([""] * len(table))
    return joined.str.lower().tolist()


class PieceWriter:
    """Writes `data/<piece>.js` files under a page's folder, each replaced atomically (a file
    hard-linked from elsewhere is replaced, never written into)."""

    def __init__(self, out_dir: Path):
        self.folder = out_dir / DATA_FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written: set[str] = set()

    def write(self, name: str, payload) -> str:
        call = f"window.omtxData({script_json(name)},{script_json(payload)});\n"
        write_atomically(self.folder / f"{name}.js", call)
        self.written.add(f"{name}.js")
        return name

    def remove_others(self) -> None:
        """Pieces of an earlier render that this one has not written (a larger screen's)."""
        for path in self.folder.glob("*.js"):
            if path.name not in self.written:
                path.unlink()


def chunk_bounds(rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, rows, CHUNK_ROWS):
        yield start, min(start + CHUNK_ROWS, rows)


def write_table_pieces(
    table: pd.DataFrame, columns: list[dict], structure: list, out_dir: Path
) -> dict:
    """Every piece of `table` (see the module's docstring) under out_dir/data; returns what
    the page needs to find them: chunk size and count, the columns with pieces, and the
    pieces a small screen loads with the page."""
    writer = PieceWriter(out_dir)
    numeric = {c["key"]: rounded_array(table[c["key"]]) for c in columns if c["type"] == "num"}
    chunks = []
    for start, stop in chunk_bounds(len(table)):
        part = table.iloc[start:stop]
        values = {
            key: numbers(numeric[key][start:stop]) if key in numeric else texts(part[key])
            for key in (c["key"] for c in columns)
        }
        chunks.append(
            writer.write(
                f"rows-{len(chunks)}", {"values": values, "structure": structure[start:stop]}
            )
        )
    orders = {}
    for number, column in enumerate(columns):
        if not column["shown"]:
            continue
        key = column["key"]
        values = numeric[key] if key in numeric else texts(table[key])
        order, ties = ascending_order(values)
        missing = int(np.isnan(values).sum()) if key in numeric else values.count(None)
        payload = {"order": _base64(order, "<i4"), "ties": _base64(ties, "u1"), "missing": missing}
        orders[key] = writer.write(f"order-{number}", payload)
    filters = {}
    for key in FILTER_COLUMNS:
        if key in numeric:
            filters[key] = writer.write(f"column-{key}", {"numbers": _base64(numeric[key], "<f8")})
    for key in FILTER_TEXT_COLUMNS:
        if key in table.columns:
            filters[key] = writer.write(f"column-{key}", dictionary(texts(table[key])))
    search = writer.write("search", searched_texts(table))
    writer.remove_others()
    everything = [*chunks, *orders.values(), *filters.values(), search]
    return {
        "chunk_rows": CHUNK_ROWS,
        "chunks": len(chunks),
        "orders": orders,
        "filter_columns": filters,
        # Loaded with the page: the first rows; all of a screen that fits one chunk.
        "eager": everything if len(chunks) <= 1 else chunks[:1],
    }
