"""A purchase list with its structures, in a folder of its own: `omtx-hub purchase-list`.

The list is either the one aggregation wrote from the config's triage rules
(`results/<screen>/purchase_list.csv`, the best passing targets per protein) or the CSV the
dashboard exports of the targets ticked there (`--selected`). Each row's structure is found by
its file name (`structure` column) among the screen's exported structures and copied, so that
the folder can be sent to a chemist or a vendor as it is; the list is written beside them,
its `structure` now the path inside the folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from omtx_hub.fileio import replaced_atomically
from omtx_hub.layout import STRUCTURES_DIR, ScreenLayout
from omtx_hub.result_tables import neutralised, restored

STRUCTURE_COLUMN = "structure"


class PurchaseListError(ValueError):
    """A purchase list that cannot be read, worded for the person who runs the command."""


@dataclass(frozen=True)
class CopiedList:
    list_path: Path
    rows: int
    copied: int
    missing: list[str]  # structure names the screen does not have (not completed, removed)


def read_purchase_list(path: Path) -> pd.DataFrame:
    """A purchase list CSV (aggregation's or the dashboard's), text as it was written."""
    if not path.is_file():
        raise PurchaseListError(
            f"{path}: no such file. A screen with `triage:` rules writes purchase_list.csv "
            "when it is aggregated; the dashboard's 'Export purchase list' writes one of the "
            "targets ticked there (give it with --selected)"
        )
    table = restored(pd.read_csv(path, dtype=str, keep_default_na=False))
    if STRUCTURE_COLUMN not in table.columns:
        raise PurchaseListError(
            f"{path} has no `{STRUCTURE_COLUMN}` column (the structure file's name); "
            "export it from the dashboard or use the screen's purchase_list.csv"
        )
    return table


def copy_purchase_list(screen_dir: Path, out_dir: Path, selected: Path | None = None) -> CopiedList:
    """Copy the purchase list of the screen at `screen_dir` (or the `selected` one) and each
    of its structures into `out_dir`: out_dir/purchase_list.csv, out_dir/structures/*.cif."""
    layout = ScreenLayout(screen_dir)
    table = read_purchase_list(selected or layout.purchase_list)
    available = {path.name: path for path in layout.structure_files()}
    structures = out_dir / STRUCTURES_DIR
    structures.mkdir(parents=True, exist_ok=True)
    copied_paths, missing = [], []
    for name in table[STRUCTURE_COLUMN]:
        source = available.get(name)
        if source is None:
            copied_paths.append("")
            if name:
                missing.append(name)
            continue
        shutil.copyfile(source, structures / name)
        copied_paths.append(f"{STRUCTURES_DIR}/{name}")
    table[STRUCTURE_COLUMN] = copied_paths
    list_path = out_dir / layout.purchase_list.name
    with replaced_atomically(list_path) as staging:
        neutralised(table).to_csv(staging, index=False)
    return CopiedList(list_path, len(table), sum(bool(p) for p in copied_paths), missing)
