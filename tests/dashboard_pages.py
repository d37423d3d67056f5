"""A rendered dashboard's data as its page reads it: the embedded description, and the table's
pieces under data/ (omtx_report.table_data) read back the way the page's script reads them."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np

PIECE = re.compile(r"window\.omtxData\((.*)\);\n", flags=re.S)


def embedded(page: Path, element: str = "screen-data") -> dict | None:
    found = re.search(
        rf'<script type="application/json" id="{element}">(.*?)</script>', page.read_text(), re.S
    )
    return json.loads(found.group(1)) if found else None


def piece(page: Path, name: str):
    """The payload of data/<name>.js, checked to be one call of window.omtxData naming it."""
    folder = page.parent / embedded(page)["data_folder"]
    call = PIECE.fullmatch((folder / f"{name}.js").read_text(encoding="utf-8"))
    assert call, f"{name}.js is not one window.omtxData call"
    handed_name, payload = json.loads(f"[{call.group(1)}]")
    assert handed_name == name
    return payload


def page_table(page: Path) -> dict:
    """The embedded description with every row's `values` (columnar, as the page's chunks
    hold them, joined) and `structure`."""
    table = embedded(page)
    chunks = [piece(page, f"rows-{n}") for n in range(table["chunks"])]
    table["values"] = {
        column["key"]: [v for chunk in chunks for v in chunk["values"][column["key"]]]
        for column in table["columns"]
    }
    table["structure"] = [entry for chunk in chunks for entry in chunk["structure"]]
    return table


def ascending(page: Path, key: str) -> list[int]:
    """The rows in the ascending order of column `key`, from its order piece."""
    payload = piece(page, embedded(page)["orders"][key])
    return np.frombuffer(base64.b64decode(payload["order"]), dtype="<i4").tolist()


def page_and_pieces(page: Path) -> str:
    """The page's text followed by its data pieces': everything the dashboard shows."""
    pieces = sorted((page.parent / embedded(page)["data_folder"]).glob("*.js"))
    return "\n".join([page.read_text(), *(path.read_text() for path in pieces)])
