"""What summary.json says about each protein: its chains, counts, score statistics and top
lists, over its distinct compounds.

Boltz documents its two affinity outputs for different compounds (docs/prediction.md,
jwohlwend/boltz 832486d): `affinity_probability_binary` "should be used to detect binders
from decoys, for example in a hit-discovery stage", while `affinity_pred_value` "should only
be used when comparing different active molecules, not inactives". So:

- everything is per protein (each protein is its own pocket and its own assay: a pooled
  distribution would mix them) and per distinct compound (one key): a compound listed under
  several names counts once;
- binder probabilities and confidence scores are summarised over every completed compound;
- affinity values (`affinity_pred_value` and its heads, `pic50`, `ic50_um`,
  `delta_g_kcal_mol`) over the predicted binders only
  (`affinity_probability_binary >= report.binder_threshold`);
- IC50 by its median and geometric mean on the log scale (10 ** the median and the mean
  log10 IC50), never its arithmetic mean: IC50 spans orders of magnitude, so that mean is set
  by the weakest compounds, and the median of an even count is the IC50 of the median pIC50;
  pIC50 and log10 IC50 by their means;
- fields that are 0 by construction for the protein's chains
  (`boltz_schema.constant_confidence_fields`) are left out, with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Collection

import numpy as np
import pandas as pd

from omtx_hub.boltz_schema import chain_counts, constant_confidence_fields, input_document
from omtx_hub.config import ScreenConfig
from omtx_hub.ranking import best_targets
from omtx_hub.records import BINDER_SCORE_FIELDS, CHAI1_SCORE, CONFIDENCE_FIELDS, Binder
from omtx_hub.result_tables import predicted_binders
from omtx_hub.summary import ProteinCounts, ProteinSummary, Statistics, TopEntry

OVER_COMPLETED = (
    "affinity_probability_binary",
    "affinity_probability_binary1",
    "affinity_probability_binary2",
    *CONFIDENCE_FIELDS,
)
OVER_BINDERS = (
    "affinity_pred_value",
    "affinity_pred_value1",
    "affinity_pred_value2",
    "pic50",
    "ic50_um",
    "delta_g_kcal_mol",
)


def protein_chains(config: ScreenConfig, binder: str | None = None) -> dict[str, Counter[str]]:
    """Each protein's chains as Boltz gets them: those of the input document of its targets
    (which differ only in the ligand's SMILES and the MSA, neither of which adds a chain); in
    a binder screen, with a binder chain of type `binder`."""
    screened = "" if binder is None else Binder(sequence="A", type=binder, msa="empty")
    return {
        protein.name: chain_counts(
            input_document(
                # The covalent bond adds no chain.
                dataclasses.replace(protein.receptor, covalent=None),
                {chain.ids[0]: "empty" for chain in protein.receptor.msa_chains},
                screened,
                affinity=config.model.affinity,
            )
        )
        for protein in config.proteins
    }


def not_applicable_fields(
    config: ScreenConfig, binder_types: Collection[str] = ()
) -> dict[str, dict[str, str]]:
    """Per protein, the confidence fields that are 0 by construction for its chains, with
    why; in a binder screen (`binder_types`: the types of its binders), those that are 0 with
    every type of binder."""
    if not binder_types:
        return {
            name: constant_confidence_fields(chains)
            for name, chains in protein_chains(config).items()
        }
    each_type = [protein_chains(config, kind) for kind in sorted(binder_types)]
    return {
        protein.name: {
            field: why
            for field, why in constant_confidence_fields(each_type[0][protein.name]).items()
            if all(field in constant_confidence_fields(c[protein.name]) for c in each_type)
        }
        for protein in config.proteins
    }


def without_not_applicable(
    table: pd.DataFrame, not_applicable: dict[str, dict[str, str]]
) -> pd.DataFrame:
    """The results table with each protein's not-applicable fields emptied in its rows, and
    the columns not applicable to every protein of the screen dropped."""
    table = table.copy(deep=False)  # copy-on-write: only the emptied columns are copied
    for protein, fields in not_applicable.items():
        if fields:
            table.loc[table["protein"] == protein, list(fields)] = None
    everywhere = set.intersection(*(set(fields) for fields in not_applicable.values()))
    return table.drop(columns=sorted(everywhere))


def _statistics(values: pd.Series, over: str, *, geometric: bool = False) -> Statistics:
    """count, mean, median, min, max of the values; with `geometric` (IC50) the mean and the
    median on the log scale: the geometric mean instead of the arithmetic one, which the
    weakest compounds would set, and 10 ** the median log10 IC50, so that the median IC50 of
    an even number of binders is the IC50 of their median pIC50 (0.01 and 1 µM: 0.1 µM), not
    the arithmetic middle of the two (0.505 µM)."""
    values = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if values.size == 0:
        mean = median = low = high = None
    elif geometric:
        # One by one with the C library's log10, as omtx_hub.records.affinity_units takes
        # powers: numpy's vectorised log10 can differ in the last bit on CPUs with AVX-512.
        logs = np.fromiter(map(math.log10, values), float, values.size)
        mean, median = float(10 ** logs.mean()), float(10 ** np.median(logs))
        low, high = float(values.min()), float(values.max())
    else:
        mean = float(values.mean())
        median, low, high = float(np.median(values)), float(values.min()), float(values.max())
    return Statistics(
        over=over,
        count=int(values.size),
        **{"geometric_mean" if geometric else "mean": mean},
        median=median,
        min=low,
        max=high,
    )


def other_names(
    table: pd.DataFrame, best: pd.DataFrame, among: pd.Series | None = None
) -> list[list[str]]:
    """For each row of `best` (rows of `table`), the sheet's other names of its compound
    (among the rows `among` masks)."""
    # Grouping only the best compounds' rows: over a whole 100,000-row table it takes minutes.
    named = table["key"].isin(best["key"])
    if among is not None:
        named &= among
    rows = table.loc[named, ["protein", "key", "ligand_name"]]
    names = rows.groupby(["protein", "key"])["ligand_name"].agg(list)
    return [
        [other for other in names[protein, key] if other != name]
        for protein, key, name in zip(
            best["protein"], best["key"], best["ligand_name"], strict=True
        )
    ]


def top_list(
    rows: pd.DataFrame,
    n: int,
    rank_by: str,
    binder_threshold: float,
    among: pd.Series | None = None,
    triage_first: bool = False,
) -> list[TopEntry]:
    """The n best compounds of `rows` (of those `among` masks) by `rank_by` (with
    `triage_first`, those that pass triage first), each with the sheet's other names for it."""
    best = best_targets(
        rows,
        n,
        rank_by=rank_by,
        binder_threshold=binder_threshold,
        among=among,
        triage_first=triage_first,
    )
    # The entry's columns (with replicates, their spread too), in its order.
    fields = [field for field in TopEntry.model_fields if field in best.columns]
    entries = json.loads(best[fields].to_json(orient="records"))
    return [
        TopEntry(**entry, also_named=names)
        for entry, names in zip(entries, other_names(rows, best, among), strict=True)
    ]


def protein_summary(
    rows: pd.DataFrame,
    *,
    chains: Counter[str],
    not_applicable: dict[str, str],
    binder_threshold: float,
    top_n: int,
) -> ProteinSummary:
    """The summary of one protein's rows of the ranked results table."""
    # Masks of the rows, not copies of them: a compound is its key's first row. Its rank
    # names it as its key does (one rank per key within a protein, `ranking.rank_order`),
    # and numbers are found again without hashing a million keys' text.
    compounds = ~rows["rank"].duplicated()
    status = rows["status"][compounds].value_counts()
    completed = compounds & (rows["status"] == "completed")
    # A binder-sequence screen's table has no affinity columns (omtx_hub.binders).
    with_affinity = "affinity_probability_binary" in rows.columns
    binders = completed & (
        predicted_binders(rows, binder_threshold)
        if with_affinity
        else pd.Series(False, index=rows.index)
    )
    statistics = {
        field: _statistics(rows[field][completed], "completed_compounds")
        for field in (*OVER_COMPLETED, *BINDER_SCORE_FIELDS, CHAI1_SCORE)
        if field not in not_applicable and field in rows.columns
    }
    for field in OVER_BINDERS if with_affinity else ():
        statistics[field] = _statistics(
            rows[field][binders], "predicted_binders", geometric=field == "ic50_um"
        )
    return ProteinSummary(
        chains=dict(chains),
        counts=ProteinCounts(
            sheet_rows=len(rows),
            compounds=int(compounds.sum()),
            completed=int(status.get("completed", 0)),
            failed=int(status.get("failed", 0)),
            pending=int(status.get("pending", 0)),
            binders=int(binders.sum()),
        ),
        statistics=statistics,
        not_applicable=not_applicable,
        top_by_binder_probability=(
            top_list(rows, top_n, "binder_probability", binder_threshold) if with_affinity else []
        ),
        # Among predicted binders only: affinity orders actives, not inactives.
        top_by_affinity=(
            top_list(
                rows,
                top_n,
                "affinity",
                binder_threshold,
                among=predicted_binders(rows, binder_threshold),
            )
            if with_affinity
            else []
        ),
        # A Chai-1 screen's confidence is its aggregate_score (it has no confidence_score).
        top_by_confidence=top_list(
            rows,
            top_n,
            "confidence" if "confidence_score" in rows.columns else "aggregate_score",
            binder_threshold,
        ),
    )
