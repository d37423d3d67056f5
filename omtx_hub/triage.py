"""The config's triage rules (`triage:`, omtx_hub.config.Triage) evaluated on the results
table: each row's `triage` verdict, `pass` or the rules it fails, and the purchase list.

Triage is a view of the results: it drops no row and no key depends on it (omtx_hub.keys
reads no `triage` setting). Each rule reads one column:

- `require_interactions`: `interactions` (compact text, `A:MET318:hbond-donor;A:LYS271:ionic`,
  chain:residue:type joined by `;`); a required type matches itself and its directed forms
  (`hbond` matches `hbond-donor`, `hbond-acceptor`); no type matches any interaction;
- `require_posebusters`: `posebusters_pass`;
- `exclude_alerts`: `alerts` (omtx_hub.medchem);
- `properties`: the property columns (omtx_hub.medchem), each window inclusive.

A row that is not completed, or has no value for a rule's column (a CCD ligand's properties,
a failed target's pose), fails that rule with the reason `no <column>`: triage passes only
what it could check.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from omtx_hub.config import InteractionRule, Triage
from omtx_hub.records import TRIAGE_COLUMN
from omtx_hub.result_tables import (
    ALERTS_SEPARATOR,
    INTERACTIONS_COLUMN,
    INTERACTIONS_SEPARATOR,
    POSEBUSTERS_PASS_COLUMN,
    TRIAGE_PASS,
    TRIAGE_SEPARATOR,
)

# purchase_list.csv's columns (those the table has), in order: who, what, how it scored, why
# it passed, and where its structure is.
PURCHASE_COLUMNS = (
    "protein",
    "rank",
    "ligand_name",
    "ligand_id",
    "smiles",
    "modeled_smiles",
    "affinity_probability_binary",
    "affinity_pred_value",
    "pic50",
    "confidence_score",
    "iptm",
    "ligand_iptm",
    "flags",
    "alerts",
    TRIAGE_COLUMN,
    "structure",
)


def parse_interactions(cell) -> list[tuple[str, str, str]]:
    """An `interactions` cell (`A:MET318:hbond-donor;A:LYS271:ionic`) as (chain, residue,
    type) each; none for an empty or missing cell. ValueError naming the part that is not
    chain:residue:type."""
    if not isinstance(cell, str):
        return []
    found = []
    for part in cell.split(INTERACTIONS_SEPARATOR):
        if not part:
            continue
        pieces = part.split(":")
        if len(pieces) != 3 or not all(pieces):
            raise ValueError(
                f"interaction '{part}' of '{cell}' is not chain:residue:type "
                "(e.g. A:MET318:hbond-donor)"
            )
        chain, residue, kind = pieces
        found.append((chain, residue.upper(), kind.lower()))
    return found


# A well-formed `interactions` cell: chain:residue:type parts joined by INTERACTIONS_SEPARATOR
# (empty parts allowed), what parse_interactions accepts.
_INTERACTION_PART = (
    rf"[^{INTERACTIONS_SEPARATOR}:]+:[^{INTERACTIONS_SEPARATOR}:]+:[^{INTERACTIONS_SEPARATOR}:]+"
)
_WELL_FORMED_INTERACTIONS = (
    rf"(?:{_INTERACTION_PART})?(?:{INTERACTIONS_SEPARATOR}(?:{_INTERACTION_PART})?)*"
)


def interaction_pattern(rule: InteractionRule) -> str:
    """A regular expression that finds, in an `interactions` cell, a part that satisfies
    `rule`: its chain exactly, its residue and type in any case (parse_interactions' upper and
    lower case), a type matching itself or its directed forms (`hbond`: `hbond-donor`)."""
    separator = re.escape(INTERACTIONS_SEPARATOR)
    other = f"[^{separator}:]"
    kind = f"{other}+" if rule.kind is None else f"(?i:{re.escape(rule.kind)})(?:-{other}*)?"
    return (
        f"(?:^|{separator}){re.escape(rule.chain)}:(?i:{re.escape(rule.residue)}):{kind}"
        f"(?:{separator}|$)"
    )


def _text(column: pd.Series) -> pd.Series:
    """A text column (`interactions`, `alerts`) as strings, empty where a cell is missing."""
    return column.fillna("").astype(str)


class _Reasons:
    """The rules each row fails, in the order they are added: one column of reasons at a
    time, over all rows at once."""

    def __init__(self, rows: int):
        self.failed = np.full(rows, "", dtype=object)

    def add(self, failing: pd.Series | np.ndarray, reason: str | np.ndarray) -> None:
        """Adds `reason` (one text, or one per failing row) to the rows where `failing`."""
        rows = np.flatnonzero(np.asarray(failing, dtype=bool))
        if not len(rows):
            return
        before = self.failed[rows]
        joined = np.where(before == "", "", before + TRIAGE_SEPARATOR)
        self.failed[rows] = joined + reason

    def verdicts(self) -> np.ndarray:
        return np.where(self.failed == "", TRIAGE_PASS, self.failed)


def _check_interactions(cells: pd.Series, checked: pd.Series) -> None:
    """ValueError (parse_interactions') naming the first `checked` cell that is not
    chain:residue:type parts."""
    well_formed = cells.str.fullmatch(_WELL_FORMED_INTERACTIONS)
    malformed = cells[checked & ~well_formed]
    if len(malformed):
        parse_interactions(malformed.iloc[0])


def _outside(values: pd.Series, low: float | None, high: float | None) -> pd.Series:
    outside = pd.Series(False, index=values.index)
    if low is not None:
        outside |= values < low
    if high is not None:
        outside |= values > high
    return outside.fillna(False).astype(bool)


def _bound(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def triage_verdicts(table: pd.DataFrame, triage: Triage) -> pd.Series:
    """Each row's `triage` cell: TRIAGE_PASS, or the rules it fails joined by
    TRIAGE_SEPARATOR. KeyError naming the config key whose column the table lacks.

    Each rule is evaluated on its column for all rows at once (a 10^6-row screen makes no
    Python object per row); only the failing rows' reasons that quote a value (a property
    outside its window) are formatted one by one."""
    needed = {
        "triage.require_posebusters": triage.require_posebusters and POSEBUSTERS_PASS_COLUMN,
        "triage.require_interactions": bool(triage.require_interactions) and INTERACTIONS_COLUMN,
        "triage.exclude_alerts": bool(triage.exclude_alerts) and "alerts",
        **{f"triage.properties.{column}": column for column in triage.properties},
    }
    for key, column in needed.items():
        if column and column not in table.columns:
            raise KeyError(f"config key '{key}': the results have no `{column}` column")
    status = table["status"].astype(str)
    completed = (status == "completed").to_numpy()
    reasons = _Reasons(len(table))
    if triage.require_posebusters:
        verdict = table[POSEBUSTERS_PASS_COLUMN]
        missing = verdict.isna().to_numpy()
        truthy = verdict.to_numpy(dtype=object, na_value=False).astype(bool)
        reasons.add(missing, f"no {POSEBUSTERS_PASS_COLUMN}")
        reasons.add(~missing & ~truthy, "posebusters")
    if triage.require_interactions:
        cells = _text(table[INTERACTIONS_COLUMN])
        _check_interactions(cells, pd.Series(completed, index=table.index))
        for rule in triage.interaction_rules:
            reasons.add(~cells.str.contains(interaction_pattern(rule)), f"interaction {rule}")
    if triage.exclude_alerts:
        # An alert rule tells "no alerts" from "not computed" by `mw`.
        computed = table["mw"].notna() if "mw" in table.columns else np.zeros(len(table), bool)
        reasons.add(~computed, "no alerts")
        alerts = _text(table["alerts"])
        separator = re.escape(ALERTS_SEPARATOR)
        for name in triage.excluded_alert_sets:
            matched = alerts.str.contains(f"(?:^|{separator}){re.escape(name)}(?::|{separator}|$)")
            reasons.add(matched, f"alert {name}")
    for column, (low, high) in triage.properties.items():
        values = table[column]
        missing = values.isna()
        reasons.add(missing, f"no {column}")
        outside = _outside(values, low, high) & ~missing
        window = f"outside [{_bound(low)}, {_bound(high)}]"
        quoted = [f"{column} {value:g} {window}" for value in values[outside]]
        reasons.add(outside, np.array(quoted, dtype=object))
    verdicts = reasons.verdicts()
    # A row that is not completed fails for that alone.
    verdicts[~completed] = "not completed (" + status[~completed].to_numpy(dtype=object) + ")"
    return pd.Series(verdicts, index=table.index, dtype=object)


def passes_triage(table: pd.DataFrame) -> pd.Series:
    """The rows whose `triage` is TRIAGE_PASS (none without a `triage` column)."""
    if TRIAGE_COLUMN not in table.columns:
        return pd.Series(False, index=table.index)
    return table[TRIAGE_COLUMN] == TRIAGE_PASS


def purchase_list(ranked: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """The best `top_k` compounds per protein that pass triage (one row each, its first sheet
    row), in rank order, with PURCHASE_COLUMNS: what `purchase_list.csv` holds."""
    passing = ranked[passes_triage(ranked)].drop_duplicates(["protein", "key"])
    best = passing.groupby("protein", sort=False).head(top_k)
    return best[[column for column in PURCHASE_COLUMNS if column in best.columns]]
