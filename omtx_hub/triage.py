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


def interaction_matches(rule: InteractionRule, interaction: tuple[str, str, str]) -> bool:
    chain, residue, kind = interaction
    if (chain, residue) != (rule.chain, rule.residue):
        return False
    return rule.kind is None or kind == rule.kind or kind.startswith(f"{rule.kind}-")


def _failed_rules(row: dict, triage: Triage) -> list[str]:
    if row["status"] != "completed":
        return [f"not completed ({row['status']})"]
    failed = []
    if triage.require_posebusters:
        verdict = row.get(POSEBUSTERS_PASS_COLUMN)
        if verdict is None or pd.isna(verdict):
            failed.append(f"no {POSEBUSTERS_PASS_COLUMN}")
        elif not verdict:
            failed.append("posebusters")
    if triage.require_interactions:
        made = parse_interactions(row.get(INTERACTIONS_COLUMN))
        failed += [
            f"interaction {rule}"
            for rule in triage.interaction_rules
            if not any(interaction_matches(rule, interaction) for interaction in made)
        ]
    if triage.exclude_alerts:
        alerts = row.get("alerts")
        matched = (
            {alert.split(":", 1)[0] for alert in alerts.split(ALERTS_SEPARATOR) if alert}
            if isinstance(alerts, str)
            else set()
        )
        if row.get("mw") is None or pd.isna(row.get("mw")):
            failed.append("no alerts")
        failed += [f"alert {name}" for name in triage.excluded_alert_sets if name in matched]
    for column, (low, high) in triage.properties.items():
        value = row.get(column)
        if value is None or pd.isna(value):
            failed.append(f"no {column}")
        elif (low is not None and value < low) or (high is not None and value > high):
            failed.append(f"{column} {value:g} outside [{_bound(low)}, {_bound(high)}]")
    return failed


def _bound(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def triage_verdicts(table: pd.DataFrame, triage: Triage) -> pd.Series:
    """Each row's `triage` cell: TRIAGE_PASS, or the rules it fails joined by
    TRIAGE_SEPARATOR. KeyError naming the config key whose column the table lacks."""
    needed = {
        "triage.require_posebusters": triage.require_posebusters and POSEBUSTERS_PASS_COLUMN,
        "triage.require_interactions": bool(triage.require_interactions) and INTERACTIONS_COLUMN,
        "triage.exclude_alerts": bool(triage.exclude_alerts) and "alerts",
        **{f"triage.properties.{column}": column for column in triage.properties},
    }
    for key, column in needed.items():
        if column and column not in table.columns:
            raise KeyError(f"config key '{key}': the results have no `{column}` column")
    # Each row as a dict of only the columns the rules read (an alert rule tells "no alerts"
    # from "not computed" by `mw`), not of the whole results table's.
    read = ["status", *(column for column in needed.values() if column)]
    if triage.exclude_alerts and "mw" in table.columns:
        read.append("mw")
    rows = table[list(dict.fromkeys(read))].to_dict("records")
    verdicts = [
        TRIAGE_SEPARATOR.join(failed) or TRIAGE_PASS
        for failed in (_failed_rules(row, triage) for row in rows)
    ]
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
