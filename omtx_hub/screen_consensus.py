"""The consensus columns of a screen's `consensus` pairs (config; docs/engines.md,
"Consensus"): for each sheet row of a pair, the Boltz-2 protein's row gains the Chai-1
protein's scores of the same sheet row, the ligand pose RMSD between the two engines' exported
structures and the `agree` flag (omtx_hub.consensus), or, where they could not be compared, the
reason. Also what the dashboard's viewer needs to show both poses: the Chai-1 structure's file
name and the superposition that moves it into the Boltz-2 structure's frame.

Done at aggregation, from the results table and the structures the shard jobs exported (the
ones the dashboard shows): the two proteins' rows are matched by sheet row (`index`), so the
two engines' shards need not hold the same targets. A comparison reads two structure files and
takes milliseconds, against the tens of GPU seconds each Chai-1 prediction took, and a target
shared by several sheet rows (one compound under two names) is compared once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from omtx_hub.chai1 import ligand_chain as chai1_ligand_chain
from omtx_hub.config import ConsensusPair as ConfiguredPair
from omtx_hub.config import ScreenConfig
from omtx_hub.consensus import ConsensusError, ConsensusThresholds, pose_consensus
from omtx_hub.records import (
    CHAI1_SCORE,
    CHAI1_STRUCTURE,
    CHAI1_SUPERPOSITION,
    CONSENSUS_AGREE,
    CONSENSUS_COLUMNS,
    CONSENSUS_ERROR,
)
from omtx_hub.result_tables import TEXT_DTYPE
from omtx_hub.summary import ConsensusPair


def structure_paths(folders: Iterable[str | Path]) -> dict[str, Path]:
    """The structures exported in shard structure `folders` (structures/<protein>/<shard>), by
    file name (a name says its screen, protein and sheet row: layout.structure_file_name). A
    finished screen's: `structure_paths(ScreenLayout(screen_dir).structure_folders())`."""
    return {path.name: path for folder in folders for path in sorted(Path(folder).glob("*.cif"))}


def superposition_text(rotation, translation) -> str:
    """The rigid motion x -> rotation @ x + translation as the `chai1_superposition` column:
    the 3 x 4 matrix [rotation | translation] row by row, 12 numbers separated by spaces."""
    matrix = np.hstack([np.asarray(rotation), np.asarray(translation)[:, None]])
    return " ".join(f"{value:.6g}" for value in matrix.ravel())


# Why a row of a table built without the structures (a running screen's progress page) has no
# comparison.
NOT_YET = "not compared yet: the aggregation of the finished screen compares the structures"


def _exported(row, engine: str, structures: Mapping[str, Path]) -> Path:
    """The exported structure of a completed row; a ConsensusError where there is none."""
    name = row["structure"]
    if pd.isna(name) or name not in structures:
        raise ConsensusError(f"{engine}'s structure {name} was not exported")
    return structures[name]


def compare_rows(
    boltz_row,
    chai_row,
    structures: Mapping[str, Path] | None,
    *,
    boltz_ligand_chain: str,
    chai_ligand_chain: str,
    thresholds: ConsensusThresholds,
) -> dict:
    """One sheet row's consensus cells (CONSENSUS_COLUMNS but the Chai-1 scores): the pose
    RMSD, `agree`, Chai-1's structure and superposition, or `consensus_error` with why the two
    rows' structures were not compared."""
    try:
        if chai_row is None:
            raise ConsensusError("the Chai-1 protein has no row of this sheet row")
        for engine, engine_row in (("Boltz-2", boltz_row), ("Chai-1", chai_row)):
            if engine_row["status"] != "completed":
                raise ConsensusError(f"{engine}'s prediction {engine_row['status']}")
        if structures is None:
            raise ConsensusError(NOT_YET)
        boltz_path = _exported(boltz_row, "Boltz-2", structures)
        chai_path = _exported(chai_row, "Chai-1", structures)
        smiles = boltz_row.get("modeled_smiles")
        if pd.isna(smiles) or not smiles:
            raise ConsensusError(
                "the row has no modelled SMILES (a CCD code or a binder sequence): not compared"
            )
        found = pose_consensus(
            boltz_path.read_bytes(),
            chai_path.read_bytes(),
            smiles,
            boltz_ligand_chain=boltz_ligand_chain,
            chai_ligand_chain=chai_ligand_chain,
            boltz_confidence=boltz_row["confidence_score"],
            chai_confidence=chai_row[CHAI1_SCORE],
            thresholds=thresholds,
        )
    except ConsensusError as error:
        return {CONSENSUS_ERROR: str(error)}
    return {
        "consensus_rmsd": found.consensus_rmsd,
        CONSENSUS_AGREE: found.agree,
        CHAI1_STRUCTURE: chai_row["structure"],
        CHAI1_SUPERPOSITION: superposition_text(found.rotation, found.translation),
    }


def thresholds_of(pair: ConfiguredPair) -> ConsensusThresholds:
    """When the pair's two engines agree (its config)."""
    return ConsensusThresholds(
        pose_rmsd_a=pair.pose_rmsd_a,
        boltz_confidence=pair.min_boltz2_confidence,
        chai_confidence=pair.min_chai1_confidence,
    )


def pair_cells(
    config: ScreenConfig,
    pair: ConfiguredPair,
    table: pd.DataFrame,
    structures: Mapping[str, Path] | None,
) -> pd.DataFrame:
    """The consensus cells of the pair's Boltz-2 rows of `table`, indexed as those rows."""
    boltz_rows = table[table["protein"] == pair.boltz2]
    chai_rows = table[table["protein"] == pair.chai1].set_index("index")
    comparison = {
        "boltz_ligand_chain": config.protein(pair.boltz2).receptor.ligand_chain,
        "chai_ligand_chain": chai1_ligand_chain(config.protein(pair.chai1).receptor),
        "thresholds": thresholds_of(pair),
    }
    compared: dict[tuple, dict] = {}
    cells = []
    for position, boltz_row in boltz_rows.iterrows():
        index = boltz_row["index"]
        chai_row = chai_rows.loc[index] if index in chai_rows.index else None
        scores = {
            "chai1_aggregate_score": np.nan if chai_row is None else chai_row[CHAI1_SCORE],
            "chai1_iptm": np.nan if chai_row is None else chai_row["iptm"],
        }
        # Sheet rows of one compound share both engines' targets: compared once.
        targets = (boltz_row["key"], None if chai_row is None else chai_row["key"])
        if targets not in compared:
            compared[targets] = compare_rows(boltz_row, chai_row, structures, **comparison)
        cells.append({"position": position, **scores, **compared[targets]})
    return pd.DataFrame(cells, columns=["position", *CONSENSUS_COLUMNS]).set_index("position")


def with_consensus(
    config: ScreenConfig, table: pd.DataFrame, structures: Mapping[str, Path] | None
) -> pd.DataFrame:
    """The results table with CONSENSUS_COLUMNS, filled on each consensus pair's Boltz-2 rows,
    empty on every other row; `table` as it is for a screen without `consensus`.
    `structures`: file name -> path (`structure_paths`); None where they are not at hand (a
    running screen's progress page): the Chai-1 scores are copied, nothing is compared."""
    if not config.consensus:
        return table
    parts = [pair_cells(config, pair, table, structures) for pair in config.consensus]
    cells = pd.concat(parts).reindex(table.index)
    cells["agree"] = cells["agree"].astype("boolean")
    for column in (CONSENSUS_ERROR, CHAI1_STRUCTURE, CHAI1_SUPERPOSITION):
        cells[column] = cells[column].astype(TEXT_DTYPE)
    return pd.concat([table, cells], axis=1)


def consensus_summary(config: ScreenConfig, table: pd.DataFrame) -> list[ConsensusPair]:
    """summary.json's `consensus`: per pair, its Boltz-2 rows' counts."""
    pairs = []
    for pair in config.consensus:
        rows = table[table["protein"] == pair.boltz2]
        pairs.append(
            ConsensusPair(
                boltz2=pair.boltz2,
                chai1=pair.chai1,
                rows=len(rows),
                compared=int(rows["consensus_rmsd"].notna().sum()),
                agree=int(rows[CONSENSUS_AGREE].fillna(False).astype(bool).sum()),
                not_compared=int(rows[CONSENSUS_ERROR].notna().sum()),
                pose_rmsd_threshold_a=pair.pose_rmsd_a,
                min_boltz2_confidence=pair.min_boltz2_confidence,
                min_chai1_confidence=pair.min_chai1_confidence,
            )
        )
    return pairs
