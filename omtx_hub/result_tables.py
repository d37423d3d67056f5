"""What the values of the result tables mean, defined once for the code that writes them
(sheet validation, aggregation, selectivity) and the dashboards that read them: the codes of
batch_results.csv's `flags` column and their meanings, its `msa` modes, the type of each of
its columns (batch_results.parquet's), the binder rule, and selectivity.csv's columns.

A contracts module: it imports nothing of omtx_hub but other contracts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np
import pandas as pd

from omtx_hub.records import (
    BINDER_SCORE_FIELDS,
    CHAI1_CLASHES,
    CHAI1_SCORE,
    CHEMISTRY_COLUMNS,
    CONSENSUS_AGREE,
    CONSENSUS_SCORES,
    PROTEIN_FLAGS,
    RESULT_COLUMNS,
    SCORE_FIELDS,
    SPREAD_FIELDS,
    Interaction,
    PoseTriage,
)

# Boltz-2's affinity training range (boltz/data/parse/schema.py, parse_boltz_schema, warns
# above it: "the maximum during training"); larger ligands are flagged.
MAX_TRAINING_ATOMS = 56

# The `flags` codes a row gets from its ligand (omtx_hub.chemistry sets them), then those it
# gets from its protein (records.PROTEIN_FLAGS), joined by FLAGS_SEPARATOR.
FLAG_LARGE = f"heavy-atoms>{MAX_TRAINING_ATOMS}"
FLAG_UNDEFINED_STEREO = "undefined-stereo"
FLAG_ENHANCED_STEREO = "enhanced-stereo"
FLAG_MIXTURE = "mixture"
# A binder-sequence screen's protein binder without an MSA (omtx_hub.binders).
FLAG_BINDER_NO_MSA = "binder-no-msa"
# Every ligand flag code and what it means (README "Ligand standardisation", dashboard
# tooltips).
LIGAND_FLAGS = {
    FLAG_LARGE: f"more than {MAX_TRAINING_ATOMS} heavy atoms (with affinity; isotopic hydrogens "
    "such as deuterium count, as Boltz counts them): outside Boltz-2's affinity training "
    "range, Boltz's own warning",
    FLAG_UNDEFINED_STEREO: "a stereocentre or stereo double bond of the modelled molecule is "
    "not specified (RDKit FindPotentialStereo); Boltz models one stereoisomer",
    FLAG_ENHANCED_STEREO: "the input had enhanced stereo groups (CXSMILES &n: both isomers, "
    "e.g. a racemate; on: one of them, unknown which), which SMILES cannot carry; Boltz models "
    "the isomer drawn",
    FLAG_MIXTURE: "a fragment that is not a known counter-ion or solvent was removed "
    "(ligands.salts: strip keeps the largest organic fragment)",
    FLAG_BINDER_NO_MSA: "the protein binder is predicted single-sequence (its msa is empty): "
    "reduced accuracy for a domain such as a nanobody, usual for a short peptide",
}
FLAG_MEANINGS = {**LIGAND_FLAGS, **PROTEIN_FLAGS}
FLAGS_SEPARATOR = ";"
# pandas' own type for text (what it infers for a column of strings): Arrow strings.
TEXT_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def split_flags(cell) -> list[str]:
    """A `flags` cell as its codes: none for an empty or missing cell."""
    return [code for code in cell.split(FLAGS_SEPARATOR) if code] if isinstance(cell, str) else []


# A column of the sheet's own that is named like one of batch_results.csv's (RESULT_COLUMNS:
# `status`, `rank`, `ligand_name`, ...) is written there with this prefix (`sheet_status`).
SHEET_COLUMN_PREFIX = "sheet_"


def result_column_of_sheet_column(column: str) -> str:
    """The name in batch_results.csv of a column the sheet brings (one of its own, not `name`,
    `smiles` or `ccd`): its own, or SHEET_COLUMN_PREFIX + it where a result column has it."""
    return SHEET_COLUMN_PREFIX + column if column in RESULT_COLUMNS else column


# Spreadsheet formula injection (OWASP, "CSV Injection"): a spreadsheet opening a CSV takes a
# cell that starts with '=', '+', '-', '@', a tab or a carriage return for a formula. Such a
# text cell is written with a "'" before it, which spreadsheets read as "text follows" and do
# not show. So that the file still reads back to exactly what was written, a cell that starts
# with quotes and then one of those characters gets one more quote too (`restore_formula_text`
# takes one off). A cell that is a number (`-5.2`, `+3`, `1e-3`) is no formula and is left as
# it is, so numeric columns stay numeric.
_FORMULA_TEXT = re.compile(r"'*[=+\-@\t\r]")
_QUOTED_FORMULA_TEXT = re.compile(r"'+[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_formula_text(cell):
    """`cell` as batch_results.csv and selectivity.csv write it: text a spreadsheet would take
    for a formula with "'" before it; any other value (numbers, missing values) as it is."""
    if isinstance(cell, str) and _FORMULA_TEXT.match(cell) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def restore_formula_text(cell):
    """The value `neutralise_formula_text` was given (for readers of the written files)."""
    if isinstance(cell, str) and _QUOTED_FORMULA_TEXT.match(cell):
        return cell[1:]
    return cell


def neutralised(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with every text cell as `neutralise_formula_text` writes it."""
    return _each_text_cell(table, neutralise_formula_text)


def restored(table: pd.DataFrame) -> pd.DataFrame:
    """A table read from a file written `neutralised`, with its text cells as they were."""
    return _each_text_cell(table, restore_formula_text)


def _each_text_cell(table: pd.DataFrame, change) -> pd.DataFrame:
    changed = table.copy()
    for position, dtype in enumerate(table.dtypes):
        if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            changed.isetitem(position, table.iloc[:, position].map(change))
    return changed


# The `alerts` column (omtx_hub.medchem): each alert as `<set>:<RDKit's description>`, e.g.
# `PAINS_A:ene_rhod_A(235)`, joined by ALERTS_SEPARATOR. The sets, as they are named there and
# in `triage.exclude_alerts`, which also takes ALERT_FAMILIES.
ALERT_SETS = ("PAINS_A", "PAINS_B", "PAINS_C", "Brenk", "NIH")
ALERT_FAMILIES = {"PAINS": ("PAINS_A", "PAINS_B", "PAINS_C")}
ALERTS_SEPARATOR = ";"
# The properties of CHEMISTRY_COLUMNS (all but `alerts`), by type; `triage.properties` windows
# name them (case does not matter: `MW`, `cLogP`).
CHEMISTRY_FLOAT_COLUMNS = ("mw", "clogp", "tpsa", "qed")
CHEMISTRY_INTEGER_COLUMNS = ("hbd", "hba", "rotatable_bonds", "formal_charge")
PROPERTY_COLUMNS = tuple(column for column in CHEMISTRY_COLUMNS if column != "alerts")
# The `triage` column: TRIAGE_PASS, or the rules a row fails joined by TRIAGE_SEPARATOR
# (omtx_hub.triage); empty where the config has no `triage`.
TRIAGE_PASS = "pass"
TRIAGE_SEPARATOR = "; "
# A failed property window's reason quotes the row's value, `mw 512.25 outside [-, 500]`; the
# rule it names is the reason without it, `mw outside [-, 500]` (what the dashboard filters on).
_QUOTED_PROPERTY_VALUE = re.compile(rf"(^|{TRIAGE_SEPARATOR})(\S+) \S+ (outside \[)")


def triage_rules(verdicts: pd.Series) -> pd.Series:
    """Each `triage` cell with the rules it names and no row's own values (the property
    windows' quoted values dropped): `pass`, or e.g. `alert PAINS_A; mw outside [-, 500]`.
    Missing cells stay missing."""
    return verdicts.astype("string").str.replace(_QUOTED_PROPERTY_VALUE, r"\1\2 \3", regex=True)


def triage_rule_counts(verdicts: pd.Series) -> dict[str, int]:
    """How many rows fail each rule (`triage_rules`' reasons), most failed first."""
    counts: dict[str, int] = {}
    for cell, rows in triage_rules(verdicts).value_counts().items():
        if cell == TRIAGE_PASS:
            continue
        for rule in cell.split(TRIAGE_SEPARATOR):
            counts[rule] = counts.get(rule, 0) + int(rows)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# The pose helper's columns that triage rules read (`require_posebusters`,
# `require_interactions`): `posebusters_pass` (bool), `posebusters_failed` (names), and
# `interactions`, compact text `A:MET318:hbond;A:LYS271:ionic` (chain:residue:type, `;`).
POSEBUSTERS_PASS_COLUMN = "posebusters_pass"
INTERACTIONS_COLUMN = "interactions"
INTERACTIONS_SEPARATOR = ";"


# The type of each column of batch_results.parquet, which is also how batch_results.csv reads
# back (docs/results.md, "Column types"), as pandas dtypes; in Arrow and Parquet: Int64 is int64,
# float64 double, boolean bool, string large_string. Every other column (the text ones and the
# sheet's own, which the sheet holds as text) is text. Any cell may be missing (null).
INTEGER_RESULT_COLUMNS = ("rank", "index", "replicates", *CHEMISTRY_INTEGER_COLUMNS)
FLOAT_RESULT_COLUMNS = (
    *SCORE_FIELDS,
    *BINDER_SCORE_FIELDS,
    CHAI1_SCORE,
    *CONSENSUS_SCORES,
    *(f"{field}_std" for field in SPREAD_FIELDS),
    "runtime_s",
    *CHEMISTRY_FLOAT_COLUMNS,
)
BOOLEAN_RESULT_COLUMNS = (
    "released_weights",
    "posebusters_pass",
    CHAI1_CLASHES,
    CONSENSUS_AGREE,
)


def result_dtypes(columns) -> dict[str, str]:
    """The declared pandas dtype of each of batch_results' `columns`."""
    declared = (
        dict.fromkeys(INTEGER_RESULT_COLUMNS, "Int64")
        | dict.fromkeys(FLOAT_RESULT_COLUMNS, "float64")
        | dict.fromkeys(BOOLEAN_RESULT_COLUMNS, "boolean")
    )
    return {column: declared.get(column, "string") for column in columns}


def typed_results(table: pd.DataFrame) -> pd.DataFrame:
    """The results table with each column of its declared dtype (`result_dtypes`) and each
    empty text cell missing: what batch_results.parquet holds, and what a reader of
    batch_results.csv gets (a CSV cannot tell an empty text from a missing one). Text is as
    it was, without the CSV's formula neutralisation."""
    dtypes = result_dtypes(table.columns)
    typed = table.astype(dtypes)
    text = [column for column, dtype in dtypes.items() if dtype == "string"]
    typed[text] = typed[text].mask(typed[text] == "")
    return typed


# A completed target's pose checks and interactions (omtx_hub.pose_checks), as
# batch_results.csv carries them: whether PoseBusters passes the pose, the names of the checks
# it fails, the interactions (`chain:RESNAMEnumber:type`), and why the
# checks could not be made. Empty for a row without a completed prediction, or checks. The
# residues are numbered in the protein's `residue_numbering` where it has one.
POSE_CHECK_COLUMNS = ("posebusters_pass", "posebusters_failed", "interactions", "pose_checks_error")
CHECKS_SEPARATOR = ";"
INTERACTIONS_SEPARATOR = ";"
# interactions.csv (omtx_hub.aggregate): one row per interaction of every checked pose.
INTERACTION_TABLE_COLUMNS = [
    "protein",
    "key",
    "replicate",
    "index",
    "ligand_id",
    "chain",
    "residue",
    "number",
    "boltz_number",
    "type",
    "ligand_atoms",
    "distance",
]
LIGAND_ATOMS_SEPARATOR = " "


# A protein's user numbering (`proteins[].residue_numbering`): chain -> the user's number of
# the chain's first residue; a chain it leaves out keeps Boltz's numbering (1 along the
# sequence, the number Boltz writes in its mmCIF).
ResidueNumbering = Mapping[str, int]
BOLTZ_NUMBERING: ResidueNumbering = MappingProxyType({})


def user_number(interaction: Interaction, numbering: ResidueNumbering) -> int:
    """The interaction's residue number in the user's numbering (Boltz's without one)."""
    return interaction.number + numbering.get(interaction.chain, 1) - 1


def compact_interactions(
    found: list[Interaction], numbering: ResidueNumbering = BOLTZ_NUMBERING
) -> str:
    """`A:MET318:hbond-donor;A:LYS271:ionic`: each residue x type once, in residue order, the
    residues in the user's numbering."""
    seen = dict.fromkeys(
        f"{i.chain}:{i.residue}{user_number(i, numbering)}:{i.type}" for i in found
    )
    return INTERACTIONS_SEPARATOR.join(seen)


def split_interactions(cell) -> list[tuple[str, str]]:
    """An `interactions` cell as (`chain:RESNAMEnumber`, type) pairs: none for an empty one."""
    if not isinstance(cell, str):
        return []
    return [tuple(item.rsplit(":", 1)) for item in cell.split(INTERACTIONS_SEPARATOR) if item]


def pose_check_columns(
    triage: PoseTriage | None, numbering: ResidueNumbering = BOLTZ_NUMBERING
) -> dict:
    """A target's POSE_CHECK_COLUMNS (the per-target lookup of the results table), its
    interactions in its protein's `numbering`."""
    if triage is None:
        return dict.fromkeys(POSE_CHECK_COLUMNS)
    if triage.error is not None:
        return dict.fromkeys(POSE_CHECK_COLUMNS) | {"pose_checks_error": triage.error}
    return {
        "posebusters_pass": triage.posebusters_pass,
        "posebusters_failed": CHECKS_SEPARATOR.join(triage.posebusters_failed),
        "interactions": compact_interactions(triage.interactions, numbering),
        "pose_checks_error": None,
    }


# How a protein chain gets its MSA (its `msa:` setting `empty`, `server` or a file): the
# `msa` column of batch_results.csv and summary.json's proteins.
MsaMode = Literal["single-sequence", "server", "file"]
SINGLE_SEQUENCE, SERVER, FILE = get_args(MsaMode)


def predicted_binders(table: pd.DataFrame, binder_threshold: float) -> pd.Series:
    """The completed rows whose binder probability is at least `binder_threshold`
    (`report.binder_threshold`): the predicted binders."""
    completed = table["status"] == "completed"
    return completed & (table["affinity_probability_binary"] >= binder_threshold)


# selectivity.csv (omtx_hub.selectivity): the scores compared, as batch_results.csv names them:
# binder probability for every completed compound, pIC50 between predicted binders only.
BINDER_SCORE, AFFINITY_SCORE = "affinity_probability_binary", "pic50"
SELECTIVITY_SCORES = (BINDER_SCORE, AFFINITY_SCORE)
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


# A binder-sequence screen's panel (omtx_hub.binders) compares the binder-receptor interface
# ipTM of every completed binder: Boltz predicts no affinity for a binder chain, and documents
# no ipTM above which a chain binds, so no binder rule applies (no `predicted_binder_of`).
BINDER_IPTM = "binder_iptm"
BINDER_SELECTIVITY_SCORES = (BINDER_IPTM,)
BINDER_MARGIN_COLUMNS = {BINDER_IPTM: "selectivity_binder_iptm"}
# A binder's identity: its first sheet row's chain.
BINDER_SELECTIVITY_COMPOUND_COLUMNS = [
    "index",
    "ligand_name",
    "ligand_id",
    "sequence",
    "chain_type",
    "binder_msa",
    "cyclic",
]


def panel_scores(binders: bool) -> dict[str, str]:
    """The scores a panel compares, each with its margin column: a binder screen's interface
    ipTM, a molecule screen's binder probability and pIC50."""
    return BINDER_MARGIN_COLUMNS if binders else MARGIN_COLUMNS


def selectivity_columns(
    target: str, anti_targets: list[str], *, binders: bool = False
) -> list[str]:
    """selectivity.csv's columns, in order (`binders`: a binder-sequence screen's)."""
    panel = [target, *anti_targets]
    scores = panel_scores(binders)
    return [
        "rank",
        *(BINDER_SELECTIVITY_COMPOUND_COLUMNS if binders else SELECTIVITY_COMPOUND_COLUMNS),
        "sheet_rows",
        *(score_column(score, protein) for score in scores for protein in panel),
        *(delta_column(score, anti) for score in scores for anti in anti_targets),
        *scores.values(),
        *(() if binders else ("predicted_binder_of", "pic50_not_compared")),
        *(status_column(protein) for protein in panel),
        "missing",
    ]
