"""The screen's ranking, decided here once: aggregation writes it to batch_results.csv's
`rank` column, summary.json's top lists and `best_targets` follow it, and the dashboard
shows it.

`report.rank_by` chooses the rule (a screen without affinity is ranked by `confidence`).
Within each protein, the completed targets come first, in this order:

- `binder_probability` (the default): by `affinity_probability_binary`, highest first.
  Boltz's docs/prediction.md: "The `affinity_probability_binary` field should be used to
  detect binders from decoys, for example in a hit-discovery stage", which a screen is.
- `affinity`: first the predicted binders (`affinity_probability_binary` >=
  `report.binder_threshold`) by `affinity_pred_value`, lowest (strongest) first; then every
  other completed target by `affinity_probability_binary`, highest first. Boltz's
  docs/prediction.md (jwohlwend/boltz 832486d) says `affinity_pred_value` "should only be used
  when comparing different active molecules, not inactives", so a non-binder's value orders
  nothing.
- `confidence`: by `confidence_score`, highest first.
- `binder_iptm` (binder-sequence screens, which have no affinity): by `binder_iptm`, the
  binder-receptor interface ipTM (omtx_hub.binders), highest first.
- `aggregate_score` (Chai-1 screens, `model.engine: chai1`, which have no affinity): by
  Chai-1's `aggregate_score` (chai-lab's own ranking score, 0.2 pTM + 0.8 ipTM less 100 with
  inter-chain clashes: chai_lab/ranking/rank.py), highest first.

Equal values (rare: the scores are continuous) are ordered by sheet row; a compound listed
under several names (one key) is placed by its first row. Then the targets that are not
completed (failed; pending in a running screen's dashboard), in sheet order. Ranks count
compounds, 1, 2, 3, ... without gaps: the rows of one compound share its rank.

With `triage.rank_within: triage` (omtx_hub.triage), the completed targets that pass triage
come first, in this order, then the other completed targets, in this order, then the rest:
triage reorders, it drops nothing.

In a screen of two engines (`proteins[].engine`), each protein's rows are ranked by its
engine's rule (`config.rank_by_of`): a Chai-1 protein's by `aggregate_score`.

Across proteins (`best_targets`: summary.json's top lists, the dashboard's top hits), each
compound once per protein, the completed ones only, by the same rule; equal values by
protein name, then sheet row.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from omtx_hub.records import TRIAGE_COLUMN
from omtx_hub.result_tables import TRIAGE_PASS, predicted_binders

# Each rule in one line, for summary.json and the dashboard.
RULES = {
    "binder_probability": "by binder probability (highest first)",
    "affinity": "predicted binders by affinity (lowest log10(IC50/µM) first), then the other "
    "completed targets by binder probability (highest first)",
    "confidence": "by confidence score (highest first)",
    "binder_iptm": "by the binder-receptor interface ipTM (highest first)",
    "aggregate_score": "by Chai-1's aggregate score (highest first)",
}
TIES_AND_REST = "equal values by sheet row; failed and pending targets last, in sheet order"


def rule_in_words(rank_by: str) -> str:
    """The whole rule of `rank_by`, ties and the rest included, in one sentence."""
    return f"{RULES[rank_by]}; {TIES_AND_REST}"


# The rules that order completed targets by one score, highest first: rule -> its column.
SCORE_COLUMN = {
    "confidence": "confidence_score",
    "binder_iptm": "binder_iptm",
    "aggregate_score": "aggregate_score",
}
_COMPLETED, _OTHER_COMPLETED, _NOT_COMPLETED = 0, 1, 4
# Added to the group of a completed target that fails triage when triage ranks first.
_FAILS_TRIAGE = 2


def _order_keys(
    table: pd.DataFrame, rank_by: str, binder_threshold: float, triage_first: bool = False
) -> dict:
    """`_group` and `_score` columns: sorting ascending by both puts rows in rank order."""
    completed = (table["status"] == "completed").to_numpy()
    if rank_by == "affinity":
        probability = table["affinity_probability_binary"].to_numpy(dtype=float)
        binder = predicted_binders(table, binder_threshold).to_numpy()
        group = np.where(binder, _COMPLETED, _OTHER_COMPLETED)
        score = np.where(binder, table["affinity_pred_value"].to_numpy(dtype=float), -probability)
    elif rank_by == "binder_probability":
        probability = table["affinity_probability_binary"].to_numpy(dtype=float)
        group, score = np.full(len(table), _COMPLETED), -probability
    elif rank_by in SCORE_COLUMN:
        column = SCORE_COLUMN[rank_by]
        group = np.full(len(table), _COMPLETED)
        score = -table[column].to_numpy(dtype=float)
    else:
        raise ValueError(f"unknown ranking {rank_by!r}; expected one of {', '.join(RULES)}")
    if triage_first:
        passes = (table[TRIAGE_COLUMN] == TRIAGE_PASS).to_numpy(dtype=bool)
        group = np.where(passes, group, group + _FAILS_TRIAGE)
    return {
        "_group": np.where(completed, group, _NOT_COMPLETED),
        "_score": np.where(completed, score, np.nan),
    }


def _order_keys_by_protein(
    table: pd.DataFrame, rank_by: Mapping[str, str], binder_threshold: float, triage_first: bool
) -> dict:
    """`_order_keys` of each protein's rows by its own rule (protein -> rule)."""
    keys = {"_group": np.empty(len(table)), "_score": np.empty(len(table))}
    rules = table["protein"].map(rank_by).to_numpy()
    order_columns = table[[c for c in _ORDER_COLUMNS if c in table.columns]]
    for rule in set(rank_by.values()):
        rows = np.flatnonzero(rules == rule)
        for name, values in _order_keys(
            order_columns.iloc[rows], rule, binder_threshold, triage_first
        ).items():
            keys[name][rows] = values
    return keys


def rank_order(
    table: pd.DataFrame,
    *,
    rank_by: str | Mapping[str, str],
    binder_threshold: float,
    triage_first: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(the positions of `table`'s rows sorted by protein and rank, each of those rows'
    rank): with `triage_first`, the completed targets that pass triage (its `triage` column)
    first; `rank_by` one rule, or each protein's (a screen of two engines). Found on the few
    columns the order reads, so that the caller moves the table's own columns into this
    order one at a time (`aggregate.results_table`)."""
    first_row = table.groupby(["protein", "key"])["index"].transform("min")
    if isinstance(rank_by, str):
        keys = _order_keys(table, rank_by, binder_threshold, triage_first)
    else:
        keys = _order_keys_by_protein(table, rank_by, binder_threshold, triage_first)
    order = pd.DataFrame(
        {
            "protein": table["protein"].array,
            "key": table["key"].array,
            **keys,
            "_first_row": first_row.to_numpy(),
            "index": table["index"].to_numpy(),
        }
    ).sort_values(
        ["protein", "_group", "_score", "_first_row", "index"], na_position="last", kind="stable"
    )
    ranks = order.groupby("protein", sort=False)["key"].transform(
        lambda keys: pd.factorize(keys)[0] + 1
    )
    return order.index.to_numpy(), ranks.to_numpy(dtype=int)


# The columns `_order_keys` and the ties read.
_ORDER_COLUMNS = (
    "protein",
    "index",
    "status",
    "affinity_probability_binary",
    "affinity_pred_value",
    "confidence_score",
    "binder_iptm",
    "aggregate_score",
    TRIAGE_COLUMN,
)


def best_targets(
    ranked: pd.DataFrame,
    n: int,
    *,
    rank_by: str,
    binder_threshold: float,
    among: pd.Series | None = None,
    triage_first: bool = False,
) -> pd.DataFrame:
    """The n best completed compounds over all proteins of a ranked table (rows in rank
    order, as `rank_order` gives them), one row each (its first sheet row), by
    the rule of `rank_by` (with `triage_first`, those that pass triage first); with `among`
    (a mask of `ranked`'s rows), of those rows only. Found on the few columns the order
    reads; only the n rows are taken whole."""
    completed = ranked["status"] == "completed"
    if among is not None:
        completed &= among
    candidates = np.flatnonzero(completed.to_numpy())
    # A compound's rows within a protein: its rank's (one rank per key, `rank_order`).
    first = ~ranked[["protein", "rank"]].iloc[candidates].duplicated().to_numpy()
    positions = candidates[first]
    targets = ranked[[c for c in _ORDER_COLUMNS if c in ranked.columns]].iloc[positions]
    keys = _order_keys(targets, rank_by, binder_threshold, triage_first)
    proteins = pd.factorize(targets["protein"], sort=True)[0]
    # np.lexsort sorts by its last key first; a missing score sorts after every value.
    order = np.lexsort(
        (
            targets["index"].to_numpy(),
            proteins,
            np.nan_to_num(keys["_score"], nan=np.inf),
            keys["_group"],
        )
    )
    return ranked.iloc[positions[order[:n]]]
