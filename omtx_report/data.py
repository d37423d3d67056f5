"""What a dashboard shows, read from the files a screen leaves behind.

A finished screen is read from what its aggregation saved: `summary.json` (through
`omtx_hub.summary`), `batch_results.csv`, `selectivity.csv` and the shard manifests. A
running or interrupted one is what omtx_hub.progress makes of its plan, the shard manifests
written so far and the result store (omtx_report.progress): every target completed, failed or
pending while the run goes on; nothing is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omtx_hub.layout import ScreenLayout
from omtx_hub.records import CONSENSUS_AGREE, ShardTotals, read_manifest
from omtx_hub.result_tables import restored
from omtx_hub.summary import ScreenSummary, read_summary

STATUSES = ("completed", "failed", "pending")


@dataclass
class ScreenData:
    """One screen as the dashboard sees it."""

    summary: ScreenSummary
    table: pd.DataFrame  # batch_results.csv's columns; status may also be 'pending'
    # selectivity.csv's columns (omtx_hub.result_tables), for a screen with a panel.
    selectivity: pd.DataFrame | None
    shards: list[dict]  # protein, shard, targets and how many are completed/failed/pending
    screen_dir: Path
    structures: StructureFiles

    @property
    def screen(self) -> str:
        return self.summary.screen

    def counts(self) -> dict[str, int]:
        found = self.table["status"].value_counts()
        return {status: int(found.get(status, 0)) for status in STATUSES}


@dataclass(frozen=True)
class StructureFiles:
    """Every exported structure of a screen, structures/<protein>/<shard>/<file name>: the
    folders once, the file names as one Arrow text array (a million of them are tens of MB,
    where a dict of Python strings and the Paths listing them took most of a GB)."""

    folders: list[str]  # structures/<protein>/<shard>, relative to the screen directory
    names: pa.Array  # file names
    folder_numbers: np.ndarray  # each name's folder, a position in `folders`

    def locate(self, names: pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Each name's folder number (a position in `folders`), -1 for no such structure
        (or no name)."""
        names = pa.array(names, type=pa.large_string(), from_pandas=True)
        found = np.asarray(pc.index_in(names, value_set=self.names).fill_null(-1))
        # The -1 of a name not found picks the -1 appended.
        return np.append(self.folder_numbers, -1)[found]

    def paths(self, names: list[str]) -> list[str | None]:
        """Each name's path relative to the screen directory, None for no such structure."""
        return [
            None if folder < 0 else f"{self.folders[folder]}/{name}"
            for folder, name in zip(self.locate(names), names, strict=True)
        ]


def find_structures(screen_dir: Path) -> StructureFiles:
    """Every exported structure (ScreenLayout.structure_files: *.cif two folders under
    structures/), listed a folder at a time."""
    folders, names, numbers = [], [], []
    for folder in ScreenLayout(screen_dir).structure_folders():
        with os.scandir(folder) as entries:
            found = [e.name for e in entries if e.name.endswith(".cif") and e.name[0] != "."]
        names.append(pa.array(found, pa.large_string()))
        numbers.append(np.full(len(found), len(folders), dtype=np.int32))
        folders.append(folder.relative_to(screen_dir).as_posix())
    # A name found in two folders (no screen writes one) is the last folder's, as when every
    # path was listed in order into a dict: index_in finds a name's first place.
    return StructureFiles(
        folders=folders,
        names=pa.concat_arrays(names[::-1]) if names else pa.array([], pa.large_string()),
        folder_numbers=np.concatenate(numbers[::-1]) if numbers else np.zeros(0, np.int32),
    )


def shard_row(protein: str, shard: str, targets: int, completed: int, failed: int) -> dict:
    """A shard as the dashboard's shards panel lists it."""
    return {
        "protein": protein,
        "shard": shard,
        "targets": targets,
        "completed": completed,
        "failed": failed,
        "pending": targets - completed - failed,
    }


def _finished_shard(shard: ShardTotals) -> dict:
    return shard_row(
        shard.protein, shard.shard, shard.targets, shard.targets - shard.failed, shard.failed
    )


def read_table(csv_path: Path) -> pd.DataFrame:
    """batch_results.csv with text columns kept as text ('NA' is a name, not a missing value),
    each text cell as it was before it was written (result_tables.restored)."""
    table = pd.read_csv(
        csv_path,
        dtype={"ligand_name": str, "ligand_id": str, "error": str},
        keep_default_na=False,
        na_values=[""],
    )
    return restored(table)


def read_parquet_table(parquet_path: Path) -> pd.DataFrame:
    """batch_results.parquet as `read_table` reads batch_results.csv (the same table: integer
    columns with a gap as float64, text as text, missing as NaN), in a fraction of the time
    and memory; Parquet holds the text as it was, so nothing is restored."""
    parquet = pq.ParquetFile(parquet_path)
    # A column at a time, each freed from Arrow as it is converted: at 10^6 rows reading the
    # whole table first peaked 500 MB higher.
    columns = [
        parquet.read(columns=[name]).to_pandas(ignore_metadata=True, self_destruct=True)[name]
        for name in parquet.schema_arrow.names
    ]
    return pd.concat(columns, axis=1)


def consensus_first(table: pd.DataFrame) -> pd.DataFrame:
    """A consensus screen's rows as the dashboard lists them at first: the rows whose two
    engines agree (`agree`, aggregation's), then those where they disagree, then the rest (the
    Chai-1 proteins' rows, rows not compared, proteins in no pair), each part in the table's
    own order (the Boltz-2 ranking within each protein). Clicking a column header sorts by it
    instead."""
    # Read as booleans from the Parquet file, as text from a CSV.
    agree = table[CONSENSUS_AGREE].astype("string").map({"True": 0, "False": 1})
    order = np.argsort(agree.fillna(2).to_numpy(dtype=int), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def read_selectivity(csv_path: Path) -> pd.DataFrame:
    """selectivity.csv, every column as text (names stay names; a compound's missing score is
    empty): the page parses the numbers it shows."""
    return restored(pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[""]))


def load_finished_screen(screen_dir: str | Path) -> ScreenData:
    """A screen whose aggregate step has written summary.json, batch_results.csv and, with a
    selectivity panel, selectivity.csv."""
    screen_dir = Path(screen_dir)
    layout = ScreenLayout(screen_dir)
    document = read_summary(layout.summary)
    shards = [_finished_shard(read_manifest(path)) for path in layout.manifests()]
    # Screens aggregated before batch_results.parquet existed have only the CSV.
    table = (
        read_parquet_table(layout.parquet_table)
        if layout.parquet_table.is_file()
        else read_table(layout.table)
    )
    return ScreenData(
        summary=document,
        table=consensus_first(table) if document.consensus else table,
        selectivity=None if document.selectivity is None else read_selectivity(layout.selectivity),
        shards=shards,
        screen_dir=screen_dir,
        structures=find_structures(screen_dir),
    )


def find_screens(results_root: str | Path) -> list[Path]:
    """Screen directories under results/: those with a summary or shard manifests."""
    root = Path(results_root)
    return sorted(
        path
        for path in root.iterdir()
        if path.is_dir()
        and (ScreenLayout(path).summary.is_file() or ScreenLayout(path).shards.is_dir())
    )
