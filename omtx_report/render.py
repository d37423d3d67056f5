"""From a screen's data to its offline dashboard (an HTML page, its data beside it, downloads).

It renders what the screen's aggregation saved (`omtx_report.data`) and decides nothing
again: the top hits and their order are summary.json's `best_targets`, the ranks
batch_results.csv's, the selectivity panel selectivity.csv.

The page works offline from a laptop or a bucket: the table's description is embedded as
JSON and its rows, sort orders and filter columns are `data/<piece>.js` files beside the page
that it loads as it needs them (`omtx_report.table_data`), plots and 2D depictions are inline
SVG, the 3D viewer (3Dmol.js, vendored) is inlined, and the structures of the top hits are
written beside the page as small `structures/<name>.js` files that the page loads with a
<script> tag (browsers refuse fetch() on file:// pages).
Every value from the ligand sheet reaches the page either through Jinja2's autoescaping or
as JSON that the page's script writes with textContent, never as markup.
"""

from __future__ import annotations

import base64
import json
import math
import os
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from omtx_hub.layout import ScreenLayout
from omtx_hub.records import (
    BINDER_SCORE_FIELDS,
    CHAI1_STRUCTURE,
    CHAI1_SUPERPOSITION,
    CONSENSUS_AGREE,
    CONSENSUS_ERROR,
    CONSENSUS_SCORES,
    NO_MSA,
    PROTEIN_FLAGS,
    REPLICATE_COLUMNS,
    RESULT_COLUMNS,
    SCORE_FIELDS,
    TRIAGE_COLUMN,
    read_manifest,
)
from omtx_hub.result_tables import (
    FLAG_MEANINGS,
    PROPERTY_COLUMNS,
    delta_column,
    panel_scores,
    predicted_binders,
    score_column,
    split_flags,
    split_interactions,
    status_column,
    triage_rule_counts,
)
from omtx_hub.summary import Protein, ProteinCounts, read_summary
from omtx_report import plots
from omtx_report.data import ScreenData
from omtx_report.table_data import (
    DATA_FOLDER,
    numbers,
    rounded_array,
    script_json,
    texts,
    write_table_pieces,
)

PACKAGE = Path(__file__).resolve().parent
ASSETS = PACKAGE / "assets"
PAGE_SIZE = 100
# Shown in the table; the other scores are in the data and in the selected target's details.
TABLE_SCORES = (
    "affinity_probability_binary",
    "affinity_probability_binary1",
    "affinity_probability_binary2",
    "affinity_pred_value",
    "affinity_pred_value1",
    "affinity_pred_value2",
    "pic50",
    "ic50_um",
    "confidence_score",
    "aggregate_score",
    "iptm",
    "ligand_iptm",
    "complex_plddt",
    "has_inter_chain_clashes",
)
# Column key -> header, several per line as a lookup table (fmt: skip keeps it compact).
LABELS = {
    "rank": "Rank", "protein": "Protein", "ligand_name": "Ligand", "smiles": "SMILES (sheet)",
    "status": "Status", "affinity_probability_binary": "P(binder)",
    "affinity_probability_binary1": "P(binder) head 1",
    "affinity_probability_binary2": "P(binder) head 2",
    "affinity_pred_value": "log10(IC50/µM)", "affinity_pred_value1": "log10(IC50/µM) head 1",
    "affinity_pred_value2": "log10(IC50/µM) head 2", "pic50": "pIC50", "ic50_um": "IC50 (µM)",
    "delta_g_kcal_mol": "ΔG (kcal/mol)", "confidence_score": "Confidence", "ptm": "pTM",
    "iptm": "ipTM", "ligand_iptm": "protein–ligand ipTM", "protein_iptm": "protein ipTM",
    "complex_plddt": "pLDDT", "complex_iplddt": "interface pLDDT", "complex_pde": "PDE (Å)",
    "complex_ipde": "interface PDE (Å)", "source": "Source", "index": "Sheet row",
    "ligand_id": "Ligand ID", "error": "Error", "failure": "Failure", "structure": "Structure",
    "modeled_smiles": "SMILES (modelled)", "flags": "Flags",
    "standardisation": "Standardisation", "canonical_smiles": "SMILES (sheet, canonical)",
    "msa": "MSA", "ccd": "CCD code", "affinity_probability_binary_std": "P(binder) SD",
    "affinity_pred_value_std": "log10(IC50/µM) SD", "confidence_score_std": "Confidence SD",
    "replicates": "Replicates", "replicate_keys": "Replicate keys",
    "posebusters_pass": "PoseBusters", "posebusters_failed": "PoseBusters failed",
    "interactions": "Interactions", "pose_checks_error": "Pose checks error",
    "triage": "Triage", "alerts": "Alerts", "mw": "MW (g/mol)", "clogp": "cLogP",
    "tpsa": "TPSA (Å²)", "hbd": "HBD", "hba": "HBA", "rotatable_bonds": "Rotatable bonds",
    "qed": "QED", "formal_charge": "Formal charge", "sequence": "Sequence",
    "aggregate_score": "Chai-1 aggregate score", "chain_pair_iptm": "Chain-pair ipTM",
    "has_inter_chain_clashes": "Inter-chain clashes",
    "chain_type": "Chain type", "binder_msa": "Binder MSA", "cyclic": "Cyclic",
    "binder_iptm": "binder ipTM", "binder_plddt": "binder pLDDT",
    "binder_residue_plddt": "binder pLDDT per residue",
    "agree": "Engines agree", "consensus_rmsd": "Pose RMSD (Å)",
    "chai1_aggregate_score": "Chai-1 score", "chai1_iptm": "Chai-1 ipTM",
    "consensus_error": "Consensus not compared", "chai1_structure": "Chai-1 structure",
    "chai1_superposition": "Chai-1 superposition",
}  # fmt: skip
# A column's header tooltip where its label alone would mislead (docs/results.md, "Scores
# and units"): Boltz's compute_ptms (boltz/model/layers/confidence_utils.py) takes every
# non-polymer chain for a ligand, cofactors included.
COLUMN_HELP = {
    "ligand_iptm": "Boltz's ligand_iptm: ipTM over every protein–ligand token pair, cofactors "
    "included (not the screened ligand's alone when the protein has cofactors)",
    "iptm": "ipTM over every pair of tokens on different chains (with cofactors, their pairs "
    "with the ligand and the protein too)",
    "binder_iptm": "Boltz's pair ipTM of the binder and the receptor chain, both ways averaged, "
    "the best receptor chain (docs/results.md, Binder-sequence screens)",
    "agree": "Boltz-2's and Chai-1's top poses within 2 Å of each other, receptors superposed "
    "(docs/engines.md, Consensus)",
    "consensus_rmsd": "The ligand's heavy-atom RMSD between Boltz-2's and Chai-1's top poses "
    "after superposing the receptor, symmetry-aware",
}
# AlphaFold's pLDDT bands (0-1), high first, for a binder's per-residue strip: the class of
# each residue's cell (dashboard.css) and its meaning.
PLDDT_BANDS = (
    (0.9, "plddt-very-high", "very high (≥ 0.9)"),
    (0.7, "plddt-high", "confident (0.7-0.9)"),
    (0.5, "plddt-low", "low (0.5-0.7)"),
    (0.0, "plddt-very-low", "very low (< 0.5)"),
)
TEXT_COLUMNS = ("protein", "ligand_name", "ligand_id", "smiles", "status", "error", "source")
# The score each ranking puts first, as the index shows a screen's best target.
RANKING_SCORES = {
    "binder_probability": ("P(binder)", "affinity_probability_binary"),
    "affinity": ("log10(IC50/µM)", "affinity_pred_value"),
    "confidence": ("confidence", "confidence_score"),
    "binder_iptm": ("binder ipTM", "binder_iptm"),
    "aggregate_score": ("Chai-1 aggregate score", "aggregate_score"),
}


def plddt_strip(sequence: str, residue_plddt) -> list[dict]:
    """A binder's residues with their pLDDT (batch_results' `binder_residue_plddt`, 0-1,
    ';'-separated) and band class (PLDDT_BANDS), for the top hits' strip; without pLDDT
    (not predicted), its letters alone."""
    values = residue_plddt.split(";") if isinstance(residue_plddt, str) else []
    strip = []
    for position, letter in enumerate(sequence):
        plddt = float(values[position]) if position < len(values) else None
        band = (
            next((b for low, b, _ in PLDDT_BANDS if plddt >= low), "") if plddt is not None else ""
        )
        strip.append({"letter": letter, "plddt": plddt, "band": band, "position": position + 1})
    return strip


def number(value, digits: int = 3) -> str:
    """A score for people: 3 significant digits, an en dash when there is none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"


def plus_minus(spread) -> str:
    """' ± spread' after a mean of replicates; nothing without a spread (one replicate)."""
    if spread is None or (isinstance(spread, float) and not math.isfinite(spread)):
        return ""
    return f" ± {number(spread)}"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = number
    environment.filters["plus_minus"] = plus_minus
    return environment


def asset_text(name: str) -> str:
    """A packaged asset, to inline in a <script> or <style> element."""
    text = (ASSETS / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"asset {name} would close its inline element early")
    return text


def table_columns(table: pd.DataFrame) -> list[dict]:
    """The table's columns: the leading ones, then the sheet's own extra columns (a score
    column batch_results.csv leaves out as not applicable is not shown)."""
    extra = [c for c in table.columns if c not in RESULT_COLUMNS]
    shown = [
        "rank",
        "protein",
        "ligand_name",
        "modeled_smiles",
        "sequence",
        "ccd",
        "flags",
        TRIAGE_COLUMN,
        "status",
        "binder_iptm",
        "binder_plddt",
        *TABLE_SCORES,
        # A consensus pair's Boltz-2 rows (docs/engines.md, "Consensus").
        CONSENSUS_AGREE,
        "consensus_rmsd",
        "chai1_aggregate_score",
        "posebusters_pass",
        "source",
        "alerts",
    ]
    hidden = [
        # In the details (the interactions as a list: dashboard.js renderInteractions).
        "posebusters_failed",
        "interactions",
        "pose_checks_error",
        # With replicates: each spread is shown beside its mean (`spread`), and in the details.
        *REPLICATE_COLUMNS,
        "replicate_keys",
        "index",
        "ligand_id",
        "smiles",
        "standardisation",
        "error",
        "failure",
        "msa",
        *(f for f in SCORE_FIELDS if f not in TABLE_SCORES),
        *PROPERTY_COLUMNS,
        "chain_type",
        "binder_msa",
        "cyclic",
        "binder_residue_plddt",
        # In the details; the viewer draws Chai-1's pose from the last two.
        "chai1_iptm",
        CONSENSUS_ERROR,
        CHAI1_STRUCTURE,
        CHAI1_SUPERPOSITION,
    ]
    columns = []
    for key in [k for k in [*shown, *extra, *hidden] if k in table.columns]:
        numeric = (
            key in SCORE_FIELDS
            or key in BINDER_SCORE_FIELDS
            or key in REPLICATE_COLUMNS
            or key in CONSENSUS_SCORES
            or key in ("rank", "index")
            or key in PROPERTY_COLUMNS
            or (key in extra and pd.api.types.is_numeric_dtype(table[key]))
        )
        column = {
            "key": key,
            "label": LABELS.get(key, key),
            "type": "num" if numeric else "text",
            "shown": key not in hidden,
        }
        if key in COLUMN_HELP:
            column["help"] = COLUMN_HELP[key]
        if f"{key}_std" in table.columns:
            column["spread"] = f"{key}_std"
        columns.append(column)
    return columns


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def depiction(smiles: str) -> str | None:
    """An RDKit 2D depiction as an SVG data URI (an <img> never runs or injects markup)."""
    from rdkit import Chem
    from rdkit.Chem.Draw import rdMolDraw2D

    molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        return None
    drawer = rdMolDraw2D.MolDraw2DSVG(240, 170)
    drawer.drawOptions().clearBackground = False
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, molecule)
    drawer.FinishDrawing()
    encoded = base64.b64encode(drawer.GetDrawingText().encode()).decode()
    return f"data:image/svg+xml;base64,{encoded}"


def _plots(table: pd.DataFrame, binder_threshold: float) -> list[str]:
    """Per protein, over its distinct completed compounds: a binder screen's and a Chai-1
    protein's score plots (`ScorePlots`), else the binder probabilities and the affinity of
    the predicted binders only (Boltz: affinity compares actives only)."""
    proteins = table["protein"].unique()
    figures = []
    for protein in proteins:
        of = f" · {protein}" if len(proteins) > 1 else ""
        if "binder_iptm" in table.columns:
            figures += _score_plots(table, protein, of, BINDER_PLOTS)
        elif _predicted_by_chai1(table, protein):
            figures += _score_plots(table, protein, of, CHAI1_PLOTS)
        else:
            figures += _affinity_plots(table, protein, of, binder_threshold)
    return figures


def _predicted_by_chai1(table: pd.DataFrame, protein: str) -> bool:
    """Whether the protein's rows are Chai-1's: a Chai-1 screen has no affinity columns; in a
    screen of two engines a Chai-1 protein's rows hold its aggregate score."""
    if "aggregate_score" not in table.columns:
        return False
    if "affinity_probability_binary" not in table.columns:
        return True
    return bool(table.loc[table["protein"] == protein, "aggregate_score"].notna().any())


def _affinity_plots(
    table: pd.DataFrame, protein: str, of: str, binder_threshold: float
) -> list[str]:
    plotted = ["status", "affinity_probability_binary", "affinity_pred_value"]
    plotted.append("confidence_score")
    # The pose checks' columns, for the contact chart (`_contact_chart`).
    plotted += [c for c in ("interactions", "posebusters_pass") if c in table.columns]
    compounds = _completed_compounds(table, protein, plotted)
    binders = compounds[predicted_binders(compounds, binder_threshold)]
    among = f"binders (P ≥ {binder_threshold:g})"
    affinity = binders["affinity_pred_value"]
    no_binders = "no predicted binders"
    figures = [
        plots.histogram(
            compounds["affinity_probability_binary"],
            title=f"Binder probability{of}",
            x_label=f"P(binder) of every completed compound; dashed: {binder_threshold:g}",
            mark=binder_threshold,
        ),
        plots.histogram(
            affinity,
            title=f"Affinity of predicted {among}{of}",
            x_label="log10(IC50/µM), lower is stronger",
            empty=no_binders,
        ),
    ]
    for column, name, y_label in (
        ("affinity_probability_binary", "P(binder)", "P(binder)"),
        ("confidence_score", "Confidence", "confidence score"),
    ):
        figures.append(
            plots.scatter(
                affinity,
                binders[column],
                title=f"{name} vs. affinity, {among}{of}",
                x_label="log10(IC50/µM)",
                y_label=y_label,
                empty=no_binders,
            )
        )
    contacts = _contact_chart(compounds, binders, of)
    if contacts is not None:
        figures.append(contacts)
    return figures


def _completed_compounds(table: pd.DataFrame, protein: str, columns: list[str]) -> pd.DataFrame:
    """`columns` of the first completed row of each of `protein`'s compounds (keys), in table
    order. Only those columns of only those rows are copied, and the keys are compared as
    Arrow codes: a copy of every column, or a Python string per key, would be hundreds of MB
    at 10^6 rows."""
    chosen = ((table["protein"] == protein) & (table["status"] == "completed")).to_numpy(bool)
    rows = np.flatnonzero(chosen)
    keys = pa.array(table["key"], type=pa.large_string(), from_pandas=True)
    codes = np.asarray(pc.dictionary_encode(keys, null_encoding="encode").indices)[rows]
    _, first = np.unique(codes, return_index=True)
    return table[columns].iloc[rows[np.sort(first)]]


@dataclass(frozen=True)
class ScorePlots:
    """The two plots of a screen ranked by a score other than affinity, per protein over its
    distinct completed compounds: the score's histogram, and a scatter of two of its
    columns."""

    score: str
    score_title: str
    score_axis: str
    x: str
    y: str
    scatter_title: str
    things: str  # what a row is: "binder", "compound"


# A binder-sequence screen's: the interface ipTM that ranks binders, and it against the
# binder's own pLDDT. A Chai-1 screen's (no affinity): the aggregate score that ranks
# compounds, and its ipTM against its pTM.
BINDER_PLOTS = ScorePlots(
    score="binder_iptm",
    score_title="Binder-receptor interface ipTM",
    score_axis="binder ipTM",
    x="binder_iptm",
    y="binder_plddt",
    scatter_title="Binder pLDDT vs. interface ipTM",
    things="binder",
)
CHAI1_PLOTS = ScorePlots(
    score="aggregate_score",
    score_title="Chai-1 aggregate score",
    score_axis="aggregate score",
    x="ptm",
    y="iptm",
    scatter_title="ipTM vs. pTM",
    things="compound",
)
_AXIS_LABELS = {
    "binder_iptm": "binder ipTM",
    "binder_plddt": "binder pLDDT",
    "ptm": "pTM",
    "iptm": "ipTM",
}


def _score_plots(table: pd.DataFrame, protein: str, of: str, plots_of: ScorePlots) -> list[str]:
    columns = list(dict.fromkeys([plots_of.score, plots_of.x, plots_of.y]))
    rows = _completed_compounds(table, protein, columns)
    return [
        plots.histogram(
            rows[plots_of.score],
            title=f"{plots_of.score_title}{of}",
            x_label=f"{plots_of.score_axis} of every completed {plots_of.things}",
        ),
        plots.scatter(
            rows[plots_of.x],
            rows[plots_of.y],
            title=f"{plots_of.scatter_title}{of}",
            x_label=_AXIS_LABELS[plots_of.x],
            y_label=_AXIS_LABELS[plots_of.y],
            empty=f"no completed {plots_of.things}",
        ),
    ]


# How many residues the contact chart of a protein shows (the most contacted).
CONTACT_CHART_RESIDUES = 15


def residue_contacts(rows: pd.DataFrame) -> dict[str, int]:
    """How many of the compounds in `rows` (one row each) contact each residue (any
    interaction type), most contacted first (`interactions`: `chain:RESNAMEnumber:type`)."""
    contacted = Counter(
        residue
        for cell in rows["interactions"]
        for residue in dict.fromkeys(residue for residue, _ in split_interactions(cell))
    )
    return dict(contacted.most_common(CONTACT_CHART_RESIDUES))


def _contact_chart(compounds: pd.DataFrame, binders: pd.DataFrame, of: str) -> str | None:
    """The residues the predicted binders of a protein contact, as bars (none without the
    pose checks' `interactions` column)."""
    if "interactions" not in compounds.columns:
        return None
    checked = binders[binders["interactions"].notna() | binders["posebusters_pass"].notna()]
    return plots.bars(
        residue_contacts(checked),
        title=f"Residues contacted by predicted binders{of}",
        of=len(checked),
        empty="no contacts in the checked poses of predicted binders",
    )


def _write_structure_scripts(data: ScreenData, names: list[str], out_dir: Path) -> list[str]:
    """structures/<name>.js for each name: the mmCIF text handed to the page's loader."""
    directory = out_dir / "structures"
    directory.mkdir(parents=True, exist_ok=True)
    for name, path in zip(names, data.structures.paths(names), strict=True):
        cif = (data.screen_dir / path).read_text()
        call = f"window.omtxStructure({script_json(name)},{script_json(cif)});\n"
        (directory / f"{name}.js").write_text(call, encoding="utf-8")
    return names


def _write_top_zip(data: ScreenData, names: list[str], out_dir: Path) -> str | None:
    if not names:
        return None
    zip_name = f"{data.screen}_top{len(names)}_structures.zip"
    with zipfile.ZipFile(out_dir / zip_name, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in zip(names, data.structures.paths(names), strict=True):
            archive.write(data.screen_dir / path, arcname=name)
    return zip_name


def _protein_card(protein: Protein, counts: ProteinCounts) -> dict:
    """A protein of summary.json for its card: its warning (single-sequence: no MSA) shows as
    the no-MSA badge."""
    return {
        "name": protein.name,
        "length": protein.length,
        "msa": protein.msa,
        "warning": protein.warning,
        "badge": PROTEIN_FLAGS[NO_MSA] if protein.warning else None,
        "counts": counts,
    }


def _cards(data: ScreenData, top: pd.DataFrame) -> dict:
    document = data.summary
    job_seconds = document.timing.job_wall_s
    best = top.iloc[0] if len(top) else None
    return {
        "proteins": [
            _protein_card(protein, document.per_protein[protein.name].counts)
            for protein in document.proteins
        ],
        "ligands": document.counts.ligands,
        "targets": len(data.table),
        "counts": data.counts(),
        "best": None
        if best is None
        else {
            "name": best["ligand_name"],
            "protein": best["protein"],
            "p_binder": best.get("affinity_probability_binary"),
            "affinity": best.get("affinity_pred_value"),
            "confidence": best.get("confidence_score"),
            "aggregate_score": best.get("aggregate_score"),
            "binder_iptm": best.get("binder_iptm"),
        },
        # Flag code -> rows and ligands carrying it.
        "flags": document.flags,
        # Triage rule -> rows failing it (the Triage filter's choices); None without triage.
        "triage_rules": triage_rule_counts(data.table[TRIAGE_COLUMN])
        if TRIAGE_COLUMN in data.table.columns and data.table[TRIAGE_COLUMN].notna().any()
        else None,
        "standardised": document.counts.standardised,
        "gpu_hours": job_seconds / 3600 if job_seconds else None,
        "boltz_hours": document.timing.boltz_wall_s / 3600,
        "cost_usd": document.gpu.cost_usd_with_startup if job_seconds else None,
        "rate_usd_per_hour": document.gpu.rate_usd_per_hour,
    }


def page_data(
    data: ScreenData, out_dir: Path, *, embedded: list[str], depictions: dict[str, str]
) -> dict:
    """What the page's script reads first (the table's own rows are pieces under data/ that
    it loads as it needs them: `omtx_report.table_data`, written here)."""
    table = data.table
    columns = table_columns(table)
    # Each row's structure as its folder's number (-1: none) and its file name: the folder
    # prefix would be most of the data. Folders are numbered in the order of the rows that
    # first show each.
    # A consensus pair's Boltz-2 rows link Chai-1's structure too (the viewer shows both).
    prefix = _relative(data.screen_dir, out_dir)
    linked = [column for column in ("structure", CHAI1_STRUCTURE) if column in table.columns]
    located = {column: data.structures.locate(table[column]) for column in linked}
    every = np.concatenate(list(located.values()))
    listed, first_row = np.unique(every[every >= 0], return_index=True)
    shown_folders = listed[np.argsort(first_row)]
    page_number = np.full(len(data.structures.folders) + 1, -1)  # [-1]: no structure
    page_number[shown_folders] = np.arange(len(shown_folders))
    folders = [f"{prefix}/{data.structures.folders[n]}" for n in shown_folders]
    pieces = write_table_pieces(
        table,
        columns,
        {column: page_number[where] for column, where in located.items()},
        out_dir,
    )
    # (A binder screen's rows have a sequence instead: shown as a pLDDT strip.)
    smiles = table["modeled_smiles"] if "modeled_smiles" in table else pd.Series(dtype=object)
    depicted = smiles.isin(depictions.keys())
    not_applicable = {
        protein: {
            LABELS.get(field, field): reason for field, reason in entry.not_applicable.items()
        }
        for protein, entry in data.summary.per_protein.items()
    }
    return {
        "screen": data.screen,
        "rows": len(table),
        "page_size": PAGE_SIZE,
        "columns": columns,
        "data_folder": DATA_FOLDER,
        **pieces,
        # The screened ligand's chain in each protein's structures (the viewer shows it).
        "ligand_chains": {protein.name: protein.ligand_chain for protein in data.summary.proteins},
        "structure_folders": list(folders),
        "embedded": embedded,
        "depictions": depictions,
        "depicted_rows": dict(
            zip(smiles.index[depicted].astype(str), smiles[depicted], strict=True)
        ),
        "plddt_bands": [[low, band, meaning] for low, band, meaning in PLDDT_BANDS],
        # Per protein, the scores that are 0 by construction for its chains (label -> why).
        "not_applicable": not_applicable,
        "flag_meanings": FLAG_MEANINGS,
    }


def selectivity_view(data: ScreenData, out_dir: Path) -> dict | None:
    """The selectivity panel's compounds x targets view (summary.json's `selectivity`), or
    None for a screen without one: selectivity.csv's values, and for each protein of the
    panel the table row each compound's scores link to."""
    panel = data.summary.selectivity
    if panel is None:
        return None
    target, anti_targets = panel.target, panel.anti_targets
    proteins = [target, *anti_targets]
    compounds = data.selectivity
    # A binder-sequence screen's panel compares binder_iptm (omtx_hub.selectivity).
    binders = "sequence" in compounds.columns
    margins = panel_scores(binders)
    # Each compound's first sheet row per protein (its `index`), by its position in the
    # page's table.
    positions = data.table.assign(_row=np.arange(len(data.table)))
    row_of = positions.set_index(["protein", "index"])["_row"].to_dict()
    columns = [
        {"key": "rank", "label": f"Rank on {target}", "type": "num"},
        {"key": "ligand_name", "label": "Ligand", "type": "text", "protein": target},
        *(
            {
                "key": score_column(score, protein),
                "label": f"{LABELS[score]} {protein}",
                "type": "num",
                "protein": protein,
            }
            for protein in proteins
            for score in margins
        ),
        *(
            {
                "key": delta_column(score, anti),
                "label": f"Δ {LABELS[score]} vs {anti}",
                "type": "num",
            }
            for anti in anti_targets
            for score in margins
        ),
        *(
            {"key": column, "label": f"Selectivity Δ {LABELS[score]}", "type": "num"}
            for score, column in margins.items()
        ),
        *(
            ()
            if binders
            else (
                {"key": "predicted_binder_of", "label": "Predicted binder of", "type": "text"},
                {"key": "pic50_not_compared", "label": "pIC50 not compared", "type": "text"},
            )
        ),
        {"key": "missing", "label": "Missing", "type": "text"},
    ]
    values = {
        column["key"]: numbers(rounded_array(compounds[column["key"]].astype(float)))
        if column["type"] == "num"
        else texts(compounds[column["key"]].where(compounds[column["key"]] != ""))
        for column in columns
    }
    values |= {status_column(p): texts(compounds[status_column(p)]) for p in proteins}
    selectivity_csv = ScreenLayout(data.screen_dir).selectivity
    return {
        "target": target,
        "anti_targets": anti_targets,
        "rows": len(compounds),
        "page_size": PAGE_SIZE,
        "columns": columns,
        "values": values,
        "table_rows": {
            protein: [row_of.get((protein, int(index))) for index in compounds["index"]]
            for protein in proteins
        },
        "download": _relative(selectivity_csv, out_dir) if selectivity_csv.is_file() else None,
    }


def top_hits(data: ScreenData, top_n: int | None) -> pd.DataFrame:
    """summary.json's `best_targets` (the top hits its aggregation chose, in report.rank_by's
    order), the first `top_n` of them, each as its table row."""
    best = data.summary.best_targets[:top_n]
    wanted = pd.DataFrame(
        {"protein": [hit.protein for hit in best], "index": [hit.index for hit in best]}
    )
    rows = data.table[["protein", "index"]].assign(_row=np.arange(len(data.table)))
    found = wanted.merge(rows, on=["protein", "index"], how="left", validate="one_to_one")
    if found["_row"].isna().any():
        missing = found[found["_row"].isna()].iloc[0]
        raise KeyError(f"best target {missing['protein']}, sheet row {missing['index']}")
    return data.table.iloc[found["_row"].astype(int).to_numpy()]


def viewer_structures_in_order(data: ScreenData, top: pd.DataFrame, limit: int) -> list[str]:
    """The first `limit` structures the offline 3D viewer embeds: every row's of the top
    hits' compounds (one compound may be listed under several names), then those of the
    other completed compounds by their rank (each protein's best, then each one's second,
    ...); and of those rows of a consensus pair, Chai-1's structure the viewer shows beside
    (`chai1_structure`)."""
    table = data.table
    hit_of = {
        compound: n for n, compound in enumerate(zip(top["protein"], top["key"], strict=True))
    }
    not_a_hit = len(hit_of)
    # Row positions and numpy arrays throughout: a Python string (or a copy of the text
    # columns) per row would be hundreds of MB at 10^6 rows. Only the rows with a top hit's
    # key can be one of its compounds.
    completed = (table["status"] == "completed").to_numpy(dtype=bool)
    rows = np.flatnonzero(completed)
    hit = np.full(len(rows), not_a_hit)
    keys = pa.array(table["key"], type=pa.large_string(), from_pandas=True)
    top_keys = pa.array(top["key"], type=pa.large_string(), from_pandas=True)
    candidate = pc.is_in(keys, value_set=top_keys).to_numpy(zero_copy_only=False)[rows]
    for place in np.flatnonzero(candidate):
        row = rows[place]
        hit[place] = hit_of.get((table["protein"].iat[row], table["key"].iat[row]), not_a_hit)
    # The table is in protein and rank order: a stable sort keeps it among equals.
    ordered = (
        pd.DataFrame({"hit": hit, "rank": table["rank"].to_numpy()[rows], "row": rows})
        .sort_values(["hit", "rank"], kind="stable")["row"]
        .to_numpy()
    )
    exported = data.structures.locate(table["structure"]) >= 0
    rows = ordered[exported[ordered]][:limit]
    names = table["structure"].iloc[rows].tolist()
    if CHAI1_STRUCTURE not in table.columns:
        return names
    # A consensus pair's Boltz-2 row is viewed with Chai-1's pose: its structure goes too.
    partners = table[CHAI1_STRUCTURE].iloc[rows]
    partners = partners[data.structures.locate(partners) >= 0]
    return list(dict.fromkeys([*names, *partners]))


def render_dashboard(
    data: ScreenData,
    out_dir: str | Path,
    *,
    top_n: int | None = None,
    viewer_structures: int = 100,
    live: bool = False,
) -> Path:
    """Write out_dir/index.html (and the structures/zip it links to); returns the page.

    The top hits are summary.json's best targets (report.top_n of them), or the first
    `top_n`.
    `viewer_structures` structures (`viewer_structures_in_order`) are embedded for the
    offline 3D viewer; any other target's structure is fetched when the page is served over
    HTTP. `live` marks a snapshot of a running screen.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layout = ScreenLayout(data.screen_dir)
    order = data.summary.ranking
    top = top_hits(data, top_n)
    depictions = {}
    for smiles in top.get("modeled_smiles", pd.Series(dtype=object)).drop_duplicates():
        uri = depiction(smiles)
        if uri:
            depictions[smiles] = uri
    embedded = _write_structure_scripts(
        data, viewer_structures_in_order(data, top, viewer_structures), out_dir
    )
    top_structures = top["structure"].tolist()
    top_names = [
        name
        for name, path in zip(top_structures, data.structures.paths(top_structures), strict=True)
        if path is not None
    ]
    selectivity = selectivity_view(data, out_dir)
    table = page_data(data, out_dir, embedded=embedded, depictions=depictions)
    page = (
        _environment()
        .get_template("dashboard.html.j2")
        .render(
            screen=data.screen,
            summary=data.summary,
            live=live,
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            cards=_cards(data, top),
            ranking=order,
            shards=data.shards,
            top=[
                {
                    "row": int(i),
                    **row,
                    "also_named": hit.also_named,
                    "flag_list": split_flags(row["flags"]),
                    **(
                        {"strip": plddt_strip(row["sequence"], row["binder_residue_plddt"])}
                        if "sequence" in row
                        else {}
                    ),
                }
                for i, row, hit in zip(
                    top.index,
                    top.to_dict("records"),
                    data.summary.best_targets[:top_n],
                    strict=True,
                )
            ],
            flag_meanings=FLAG_MEANINGS,
            plddt_bands=PLDDT_BANDS,
            depictions=depictions,
            plots=_plots(data.table, order.binder_threshold),
            downloads={
                name: _relative(path, out_dir)
                for name, path in (
                    ("batch_results", layout.table),
                    ("batch_results_parquet", layout.parquet_table),
                    ("summary", layout.summary),
                )
                if path.is_file()
            }
            | {
                "zip": _write_top_zip(data, top_names, out_dir),
                "zip_count": len(top_names),
            },
            data_json=script_json(table),
            eager_scripts=[f"{DATA_FOLDER}/{name}.js" for name in table["eager"]],
            selectivity=selectivity,
            selectivity_json=script_json(selectivity) if selectivity else None,
            selectivity_script=asset_text("selectivity.js") if selectivity else None,
            threedmol=asset_text("3Dmol-min.js"),
            script=asset_text("dashboard.js"),
            purchase_script=asset_text("purchase.js"),
            style=asset_text("dashboard.css"),
            assets=json.loads(asset_text("MANIFEST.json")),
        )
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def screen_overview(screen_dir: Path, out_dir: Path) -> dict:
    """One line of the index: status, progress, best hit, date, links."""
    layout = ScreenLayout(screen_dir)
    summary_path = layout.summary
    manifests = layout.manifests()
    line = {"name": screen_dir.name, "best": None, "dashboard": None, "progress_page": None}
    for key, page in (("dashboard", layout.report), ("progress_page", layout.progress)):
        if (page / "index.html").is_file():
            line[key] = _relative(page / "index.html", out_dir)
    if summary_path.is_file():
        document = read_summary(summary_path)
        counts = document.counts
        label, field = RANKING_SCORES[document.ranking.rank_by]
        best = document.best_targets[0] if document.best_targets else None
        line |= {
            "status": "finished" if not counts.failed else "finished with failures",
            "done": counts.completed + counts.failed,
            "total": counts.rows,
            "failed": counts.failed,
            "date": document.generated_at,
            "best": best,
            "best_score": f"{label} {number(getattr(best, field))}" if best else None,
            "warning": document.warning,
        }
        return line
    # Not aggregated yet: only the shard manifests tell how far it got (targets per shard
    # are known once a shard finished; the plan needs the config: `omtx-report progress`).
    finished = [read_manifest(path) for path in manifests]
    latest = max((path.stat().st_mtime for path in manifests), default=None)
    return line | {
        "status": "running or interrupted",
        "done": sum(m.targets for m in finished),
        "total": None,
        "failed": sum(m.failed for m in finished),
        "date": None
        if latest is None
        else datetime.fromtimestamp(latest, UTC).isoformat(timespec="seconds"),
        "warning": None,
        "shards_done": len(finished),
    }


def render_index(results_root: str | Path, screen_dirs: list[Path]) -> Path:
    """results/index.html: every screen with its status, progress, best hit and links."""
    results_root = Path(results_root)
    page = (
        _environment()
        .get_template("index.html.j2")
        .render(
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            screens=[screen_overview(path, results_root) for path in screen_dirs],
            style=asset_text("dashboard.css"),
        )
    )
    index = results_root / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
