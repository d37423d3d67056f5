"""A selectivity panel (`selectivity: {target: NAME, anti_targets: [NAME, ...]}`): each
distinct compound's scores on every protein of the panel side by side, and how much better it
scores on the target than on each anti-target (`selectivity.csv`, the dashboard's view).

A compound is a distinct modelled molecule (`modeled_smiles`, or for a sheet row by CCD code
its code: `omtx_hub.sheet.molecule_identities`), as in the per-protein summaries
(`omtx_hub.protein_summary`): the rows of one compound under several names share
one prediction per protein, and it is listed once, under its first sheet row.

The scores are Boltz-2's two affinity outputs: `affinity_probability_binary` (binder vs.
decoy) and `pic50` = 6 - `affinity_pred_value` (`omtx_hub.boltz_io`), since Boltz's
`affinity_pred_value` "reports a binding affinity value as `log10(IC50)`, derived from an
`IC50` measured in `μM`" (Boltz 2.2.1's README, "Binding Affinity Prediction", installed as
boltz-2.2.1.dist-info/METADATA). The differences are the target's score minus the
anti-target's, so a positive value favours the target for both:
`delta_affinity_probability_binary_<anti-target>` and `delta_pic50_<anti-target>` (pIC50
units: log10 of the IC50 ratio anti-target / target). `selectivity_binder_probability` and
`selectivity_pic50` are the smallest difference over the anti-targets: the margin over the
closest one. `predicted_binder_of` says which proteins of the panel the compound is predicted
to bind.

pIC50 is compared between predicted binders only, the project's rule for affinity
(`omtx_hub.ranking`, `omtx_hub.protein_summary`): Boltz documents `affinity_pred_value` for
comparing binders only ("should only be used when comparing different active molecules, not
inactives", docs/prediction.md). So `pic50_<protein>` is empty where the compound is not a
predicted binder of that protein, `delta_pic50_<anti-target>` unless it is one of both the
target and the anti-target, and `selectivity_pic50` is the smallest Δ pIC50 over the
anti-targets it is predicted to bind: empty when it binds no anti-target (its selectivity is
then a matter of binder probability) or not the target. `pic50_not_compared` says which
proteins' pIC50 is left out and why. The binder probability, Boltz's binder-vs-decoy score,
is compared for every completed compound.

A protein of the panel that is not completed for a compound (failed, or pending in a running
screen's dashboard) leaves its scores, its differences and the compound's `selectivity_*`
empty, with the reason in `missing`: a margin over only the anti-targets that were predicted
could overstate it.

The columns are named in `omtx_hub.result_tables`, which the dashboards read them by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from omtx_hub.layout import SELECTIVITY_FILE
from omtx_hub.result_tables import (
    AFFINITY_SCORE,
    BINDER_IPTM,
    BINDER_SCORE,
    BINDER_SELECTIVITY_COMPOUND_COLUMNS,
    SELECTIVITY_COMPOUND_COLUMNS,
    TARGETS_SEPARATOR,
    delta_column,
    panel_scores,
    predicted_binders,
    score_column,
    selectivity_columns,
    status_column,
)
from omtx_hub.sheet import BINDER_SHEET_COLUMNS, is_binder_sheet, molecule_identities
from omtx_hub.summary import Selectivity

# The column of each row's compound identity while the table is built.
_COMPOUND = "_compound"


def _protein_rows(table: pd.DataFrame, protein: str) -> pd.DataFrame:
    """One row per compound of `protein`: its first sheet row (the rows of a compound share
    its prediction)."""
    rows = table[table["protein"] == protein].sort_values("index", kind="stable")
    return rows.drop_duplicates(_COMPOUND).set_index(_COMPOUND)


def _why_missing(protein: str, status, error, binders: bool) -> str:
    if not isinstance(status, str):
        return f"{protein}: not predicted"
    if status == "completed":
        return f"{protein}: no {BINDER_IPTM if binders else 'affinity prediction'}"
    return f"{protein}: {status}" + (f" ({error})" if isinstance(error, str) and error else "")


def _compound_identities(table: pd.DataFrame, binders: bool) -> pd.Series:
    """Each row's compound: its modelled molecule, or a binder screen's chain."""
    if not binders:
        return molecule_identities(table)
    cells = table[list(BINDER_SHEET_COLUMNS)].astype(str)
    return cells.agg("\t".join, axis=1)


def selectivity_table(
    table: pd.DataFrame, target: str, anti_targets: list[str], *, binder_threshold: float
) -> pd.DataFrame:
    """The panel's table from the ranked results table (batch_results.csv's rows): one row per
    distinct compound (a binder screen's: per distinct binder), in the target's rank order
    (then sheet order)."""
    binders = is_binder_sheet(table.columns)
    panel = [target, *anti_targets]
    margins = panel_scores(binders)
    first_score = next(iter(margins))
    table = table.assign(**{_COMPOUND: _compound_identities(table, binders)})
    by_row = table.sort_values("index", kind="stable")
    columns = BINDER_SELECTIVITY_COMPOUND_COLUMNS if binders else SELECTIVITY_COMPOUND_COLUMNS
    result = by_row.drop_duplicates(_COMPOUND)[[*columns, _COMPOUND]]
    result = result.reset_index(drop=True)
    smiles = result[_COMPOUND]
    # Every sheet row is in the table once per protein.
    sheet_rows = by_row.drop_duplicates("index")[_COMPOUND].value_counts()
    result["sheet_rows"] = smiles.map(sheet_rows)
    rows = {protein: _protein_rows(table, protein) for protein in panel}
    result["rank"] = smiles.map(rows[target]["rank"]).astype("Int64")
    reasons: list[list[str]] = [[] for _ in range(len(result))]
    binder_of: list[list[str]] = [[] for _ in range(len(result))]
    not_compared: list[list[str]] = [[] for _ in range(len(result))]
    # Per protein, the compounds with its first score there (completed: binder probability,
    # with affinity; binder_iptm).
    scored: dict[str, pd.Series] = {}
    for protein in panel:
        found = rows[protein].reindex(smiles).reset_index(drop=True)
        scores = found[list(margins)].apply(pd.to_numeric, errors="coerce")
        scores = scores.where(found["status"] == "completed")
        scored[protein] = scores[first_score].notna()
        for position in np.flatnonzero(scores.isna().any(axis=1).to_numpy()):
            reasons[position].append(
                _why_missing(protein, found["status"][position], found["error"][position], binders)
            )
        result[status_column(protein)] = found["status"].fillna("not predicted")
        if binders:
            result[score_column(BINDER_IPTM, protein)] = scores[BINDER_IPTM]
            continue
        binder = predicted_binders(found, binder_threshold).fillna(False).astype(bool)
        for position in np.flatnonzero((scored[protein] & ~binder).to_numpy()):
            probability = scores[BINDER_SCORE][position]
            not_compared[position].append(
                f"{protein}: not a predicted binder (P(binder) {probability:.3g} < "
                f"{binder_threshold:g})"
            )
        result[score_column(BINDER_SCORE, protein)] = scores[BINDER_SCORE]
        result[score_column(AFFINITY_SCORE, protein)] = scores[AFFINITY_SCORE].where(binder)
        for position in np.flatnonzero(binder.to_numpy()):
            binder_of[position].append(protein)
    # A margin only where every protein of the panel has the score: one over only the
    # anti-targets that were predicted could overstate it.
    every_scored = pd.concat(scored, axis=1).all(axis=1)
    for score, column in margins.items():
        deltas = {
            anti: result[score_column(score, target)] - result[score_column(score, anti)]
            for anti in anti_targets
        }
        for anti, delta in deltas.items():
            result[delta_column(score, anti)] = delta
        # The closest anti-target's: over every anti-target for binder probability and
        # interface ipTM, over those the compound is predicted to bind for pIC50 (the
        # others' Δ are empty).
        margin = pd.DataFrame(deltas).min(axis=1, skipna=score == AFFINITY_SCORE)
        result[column] = margin.where(every_scored)
    if not binders:
        result["predicted_binder_of"] = [TARGETS_SEPARATOR.join(names) for names in binder_of]
        result["pic50_not_compared"] = ["; ".join(why) for why in not_compared]
    result["missing"] = ["; ".join(why) for why in reasons]
    result = result.sort_values(["rank", "index"], na_position="last", kind="stable")
    columns = selectivity_columns(target, anti_targets, binders=binders)
    return result[columns].reset_index(drop=True)


def selectivity_summary(
    selectivity: pd.DataFrame, target: str, anti_targets: list[str]
) -> Selectivity:
    """summary.json's `selectivity`: the panel and what its table holds."""
    compared = selectivity["missing"] == ""
    # A binder screen's panel has no binder rule (omtx_hub.result_tables.BINDER_IPTM).
    only_target = (
        {}
        if "predicted_binder_of" not in selectivity.columns
        else {
            "binders_of_target_only": int(
                (compared & (selectivity["predicted_binder_of"] == target)).sum()
            )
        }
    )
    return Selectivity(
        target=target,
        anti_targets=list(anti_targets),
        file=SELECTIVITY_FILE,
        compounds=len(selectivity),
        compared=int(compared.sum()),
        **only_target,
    )
