"""What the values of the result tables mean, defined once for the code that writes them
(sheet validation, aggregation, selectivity) and the dashboards that read them: the codes of
batch_results.csv's `flags` column and their meanings, its `msa` modes, the binder rule, and
selectivity.csv's columns.

A contracts module: it imports nothing of omtx_hub but other contracts.
"""

from __future__ import annotations

from typing import Literal, get_args

import pandas as pd

from omtx_hub.records import PROTEIN_FLAGS

# Boltz-2's affinity training range (boltz/data/parse/schema.py, parse_boltz_schema, warns
# above it: "the maximum during training"); larger ligands are flagged.
MAX_TRAINING_ATOMS = 56

# The `flags` codes a row gets from its ligand (omtx_hub.chemistry sets them), then those it
# gets from its protein (records.PROTEIN_FLAGS), joined by FLAGS_SEPARATOR.
FLAG_LARGE = f"heavy-atoms>{MAX_TRAINING_ATOMS}"
FLAG_UNDEFINED_STEREO = "undefined-stereo"
FLAG_ENHANCED_STEREO = "enhanced-stereo"
FLAG_MIXTURE = "mixture"
# Every ligand flag code and what it means (README "Ligand standardisation", dashboard
# tooltips).
LIGAND_FLAGS = {
    FLAG_LARGE: f"more than {MAX_TRAINING_ATOMS} heavy atoms as Boltz counts them (with "
    "affinity): outside Boltz-2's affinity training range, Boltz's own warning",
    FLAG_UNDEFINED_STEREO: "a stereocentre or stereo double bond of the modelled molecule is "
    "not specified (RDKit FindPotentialStereo); Boltz models one stereoisomer",
    FLAG_ENHANCED_STEREO: "the input had enhanced stereo groups (CXSMILES &n: both isomers, "
    "e.g. a racemate; on: one of them, unknown which), which SMILES cannot carry; Boltz models "
    "the isomer drawn",
    FLAG_MIXTURE: "a fragment that is not a known counter-ion or solvent was removed "
    "(ligands.salts: strip keeps the largest organic fragment)",
}
FLAG_MEANINGS = {**LIGAND_FLAGS, **PROTEIN_FLAGS}
FLAGS_SEPARATOR = ";"


def split_flags(cell) -> list[str]:
    """A `flags` cell as its codes: none for an empty or missing cell."""
    return [code for code in cell.split(FLAGS_SEPARATOR) if code] if isinstance(cell, str) else []


# How a protein chain gets its MSA (its `msa:` setting `empty`, `server` or a file): the
# `msa` column of batch_results.csv and summary.json's proteins.
MsaMode = Literal["single-sequence", "server", "file"]
SINGLE_SEQUENCE, SERVER, FILE = get_args(MsaMode)


def predicted_binders(table: pd.DataFrame, binder_threshold: float) -> pd.Series:
    """The completed rows whose binder probability is at least `binder_threshold`
    (`report.binder_threshold`): the predicted binders."""
    completed = table["status"] == "completed"
    return completed & (table["affinity_probability_binary"] >= binder_threshold)


# selectivity.csv (omtx_hub.selectivity): the scores compared, as batch_results.csv names them.
SELECTIVITY_SCORES = ("affinity_probability_binary", "pic50")
# A compound's identity: its first sheet row's.
SELECTIVITY_COMPOUND_COLUMNS = ["index", "ligand_name", "ligand_id", "modeled_smiles"]
# Joins the proteins of the panel in `predicted_binder_of`.
TARGETS_SEPARATOR = ";"
# The margin over the closest anti-target, per score.
MARGIN_COLUMNS = {
    "affinity_probability_binary": "selectivity_binder_probability",
    "pic50": "selectivity_pic50",
}


def score_column(score: str, protein: str) -> str:
    """A protein's score, e.g. `pic50_ABL1`."""
    return f"{score}_{protein}"


def status_column(protein: str) -> str:
    return f"status_{protein}"


def delta_column(score: str, anti_target: str) -> str:
    """The target's score minus `anti_target`'s, e.g. `delta_pic50_SRC`."""
    return f"delta_{score}_{anti_target}"


def selectivity_columns(target: str, anti_targets: list[str]) -> list[str]:
    """selectivity.csv's columns, in order."""
    panel = [target, *anti_targets]
    return [
        "rank",
        *SELECTIVITY_COMPOUND_COLUMNS,
        "sheet_rows",
        *(score_column(score, protein) for score in SELECTIVITY_SCORES for protein in panel),
        *(delta_column(score, anti) for score in SELECTIVITY_SCORES for anti in anti_targets),
        *MARGIN_COLUMNS.values(),
        "predicted_binder_of",
        *(status_column(protein) for protein in panel),
        "missing",
    ]
