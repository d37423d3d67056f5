"""Replicates (`model.replicates: n`): n predictions of each target, one per seed, reported as
one row with their mean and spread.

Replicate r is the prediction with the seed `model.seed + r` (`omtx_hub.plan`), keyed, cached
and resumed as any target. `batch_results.csv` keeps one row per sheet row x protein:

- every score is the mean over the completed replicates, and the derived affinity units are
  those of the mean log10 IC50 (so `ic50_um` is the geometric mean of the replicates' IC50s,
  as IC50 spans orders of magnitude);
- `<score>_std` (binder probability, affinity, confidence) is the sample standard deviation
  (ddof 1) over the completed replicates, empty with fewer than two; `replicates` counts them;
- the row is completed when at least one replicate is; `error` names each failed replicate;
- `key`, `structure` and the other per-prediction columns are replicate 0's, the prediction
  with `model.seed` itself: it is the structure (and key) the same screen without replicates
  shows, it does not depend on which replicates finish, and choosing the best-confidence
  replicate would show a pose selected on noise, with a confidence above the mean the row
  reports. `replicate_keys` lists every replicate's key, in order: their structures are in
  the result store under them.

Ranking (`omtx_hub.ranking`) orders the rows by these means.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from omtx_hub.records import BINDER_SCORE_FIELDS, SCORE_FIELDS, SPREAD_FIELDS, affinity_units
from omtx_hub.summary import Replicates

# The first `source` of a compound's replicates in this order is the row's.
_SOURCES = ("computed", "reused", "pending", "failed")
KEYS_SEPARATOR = ";"


def combine_replicates(rows: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """One row per protein x sheet row from `rows`, the results table's rows of every
    replicate (column `replicate`: its number, whose seed is `seeds[replicate]`)."""
    rows = rows.sort_values("replicate", kind="stable").reset_index(drop=True)
    by = [rows["protein"], rows["index"]]
    completed = rows["status"] == "completed"
    # (A binder screen's interface scores too; its per-residue pLDDT is replicate 0's, as
    # its structure is.)
    averaged = [f for f in (*SCORE_FIELDS, *BINDER_SCORE_FIELDS) if f in rows.columns]
    scores = rows[averaged].astype(float).where(completed, axis=0)
    combined = rows.drop_duplicates(["protein", "index"]).set_index(["protein", "index"])
    combined[averaged] = scores.groupby(by, sort=False).mean()
    for field, value in affinity_units(combined["affinity_pred_value"]).items():
        combined[field] = value
    for field in SPREAD_FIELDS:
        combined[f"{field}_std"] = scores[field].groupby(by, sort=False).std(ddof=1)
    count = completed.groupby(by, sort=False).sum().reindex(combined.index)
    combined["replicates"] = count
    pending = (rows["status"] == "pending").groupby(by, sort=False).any()
    pending = pending.reindex(combined.index).to_numpy()
    combined["status"] = np.where(
        count.to_numpy() > 0, "completed", np.where(pending, "pending", "failed")
    )
    source = rows["source"].map(_SOURCES.index).groupby(by, sort=False).min()
    combined["source"] = [_SOURCES[number] for number in source.reindex(combined.index)]
    combined["runtime_s"] = rows["runtime_s"].groupby(by, sort=False).sum(min_count=1)
    combined["key"] = rows["key"].groupby(by, sort=False).first()
    combined["replicate_keys"] = rows["key"].groupby(by, sort=False).agg(KEYS_SEPARATOR.join)
    failed = rows[rows["status"] == "failed"]
    # Built per row: text arithmetic on columns fails on an empty frame (no failed replicate
    # yet) when pandas keeps text in Arrow arrays, as it does with pyarrow installed.
    errors = pd.Series(
        [
            f"replicate {replicate} (seed {seeds[replicate]}): "
            + (error if isinstance(error, str) else "")
            for replicate, error in zip(failed["replicate"], failed["error"], strict=True)
        ],
        index=failed.index,
        dtype=object,
    )
    errors = errors.groupby([failed["protein"], failed["index"]], sort=False).agg(" | ".join)
    combined["error"] = errors.reindex(combined.index).astype(object)
    combined["error"] = combined["error"].where(combined["error"].notna(), None)
    return combined.reset_index().drop(columns="replicate")


def replicates_summary(seeds: list[int]) -> Replicates:
    """summary.json's `replicates`: how many, their seeds and how the rows report them."""
    return Replicates(
        count=len(seeds),
        seeds=seeds,
        scores="mean over the completed replicates; ic50_um, pic50 and delta_g_kcal_mol "
        "from the mean affinity_pred_value",
        spread={
            f"{field}_std": f"sample standard deviation (ddof 1) of {field} over the completed "
            "replicates, empty with fewer than two"
            for field in SPREAD_FIELDS
        }
        | {"replicates": "completed replicates of the row's compound"},
        ranking="by the mean",
        structure=f"replicate 0 (seed {seeds[0]}): the structure the same screen without "
        "replicates shows; every replicate's key is in replicate_keys, its structure in the "
        "result store under it",
    )
