"""The screen's ranking, decided here once: aggregation writes it to batch_results.csv's
`rank` column and the dashboard shows it.

Within each protein: completed targets by binder probability (highest first), ties by
predicted affinity (lowest log10 IC50 first); without affinity, by confidence score. Failed
targets come last, with their error. Across proteins (the dashboard's top hits), completed
targets by binder probability, or by confidence when the screen predicted no affinity, ties
in the within-protein order.
"""

from __future__ import annotations

import pandas as pd


def rank_within_proteins(table: pd.DataFrame, *, affinity: bool) -> pd.DataFrame:
    """The results table sorted by protein and rank, with a leading `rank` column."""
    completed = table["status"] == "completed"
    if affinity:
        order = ["affinity_probability_binary", "affinity_pred_value"]
        ascending = [False, True]
    else:
        order, ascending = ["confidence_score"], [False]
    table = table.assign(_failed=~completed).sort_values(
        ["protein", "_failed", *order, "index"],
        ascending=[True, True, *ascending, True],
        na_position="last",
        kind="stable",
    )
    table.insert(0, "rank", table.groupby("protein").cumcount() + 1)
    return table.drop(columns="_failed")


def best_targets(ranked: pd.DataFrame, n: int) -> pd.DataFrame:
    """The n best completed targets over all proteins of a table in rank order."""
    completed = ranked[ranked["status"] == "completed"]
    by = "affinity_probability_binary"
    if completed[by].isna().all():
        by = "confidence_score"
    return completed.sort_values(by, ascending=False, kind="stable").head(n)
