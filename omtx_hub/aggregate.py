"""Per-screen results: `batch_results.csv` (one ranked row per protein x sheet ligand) and
`summary.json` (counts, score statistics, top hits, parameters, versions, weights), ranked
as `omtx_hub.ranking` says.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from omtx_hub import msa
from omtx_hub.boltz_io import SCORE_FIELDS
from omtx_hub.cost import spent
from omtx_hub.plan import KEY_SCHEME, Plan, server_msa_id
from omtx_hub.ranking import rank_within_proteins
from omtx_hub.records import (
    FLAG_SEPARATOR,
    RESULT_COLUMNS,
    ManifestEntry,
    ShardTotals,
    read_manifest,
)

SOFTWARE = ("boltz", "torch", "rdkit", "snakemake", "pandas", "pydantic", "omtx-hub")


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in SOFTWARE:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def read_manifests(paths: list[str | Path]) -> tuple[list[ManifestEntry], list[ShardTotals]]:
    """(records, shard totals) from shard manifest files."""
    records: list[ManifestEntry] = []
    shards: list[ShardTotals] = []
    for path in paths:
        manifest = read_manifest(path)
        records.extend(manifest.records)
        shards.append(manifest.totals())
    return records, shards


def row_flags(msa_mode: str) -> list[str]:
    """The flag codes (records.FLAGS) of a row whose protein has MSA mode `msa_mode`."""
    return ["no-msa"] if msa_mode == msa.SINGLE_SEQUENCE else []


def results_table(plan: Plan, records: list[ManifestEntry]) -> pd.DataFrame:
    msa_modes = {protein.name: msa.mode(protein.msa) for protein in plan.config.proteins}
    rows = []
    for record in records:
        scores = {field: getattr(record, field) for field in SCORE_FIELDS}
        for ligand in record.ligands:
            rows.append(
                {
                    "protein": record.protein,
                    "index": ligand.index,
                    "ligand_id": ligand.ligand_id,
                    "status": record.status,
                    "error": record.error,
                    **scores,
                    "source": record.source,
                    # GPU wall seconds this screen spent on the compound (its share of the shard).
                    "runtime_s": record.runtime_s,
                    "structure": record.structures.get(ligand.ligand_id),
                    "key": record.key,
                    "released_weights": record.weights.released,
                    "msa": msa_modes[record.protein],
                    "flags": FLAG_SEPARATOR.join(row_flags(msa_modes[record.protein])),
                }
            )
    table = pd.DataFrame(rows)
    sheet = plan.ligands.drop(columns=["line", "heavy_atoms", "ligand_id"]).rename(
        columns={"name": "ligand_name"}
    )
    # A sheet's own column that shares a name with a result column is kept with a prefix.
    collisions = {
        c: f"sheet_{c}" for c in sheet.columns if c in RESULT_COLUMNS and c not in _FROM_SHEET
    }
    table = table.merge(sheet.rename(columns=collisions), on="index", how="left")
    table = rank_within_proteins(table, affinity=plan.config.model.affinity)
    extra = [c for c in table.columns if c not in RESULT_COLUMNS]
    return table[RESULT_COLUMNS + extra].reset_index(drop=True)


_FROM_SHEET = {"index", "ligand_name", "smiles", "canonical_smiles"}


def _statistics(values: pd.Series) -> dict:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return {"count": 0, "mean": None, "min": None, "max": None, "median": None}
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "max": float(values.max()),
        "median": float(values.median()),
    }


def _top(table: pd.DataFrame, column: str, *, ascending: bool, n: int) -> list[dict]:
    completed = table[(table["status"] == "completed") & table[column].notna()]
    best = completed.sort_values(column, ascending=ascending, kind="stable").head(n)
    fields = ["protein", "ligand_name", "ligand_id", "smiles", column, "structure"]
    return json.loads(best[fields].to_json(orient="records"))


def protein_summary(plan: Plan, name: str) -> dict:
    """A protein in summary.json: its length and MSA (mode, source, the sha256 the keys
    contain), with the single-sequence warning."""
    protein = plan.protein(name)
    mode = msa.mode(protein.msa)
    document = {"name": name, "length": len(protein.sequence), "msa": mode}
    if mode == msa.SERVER:
        runtime = plan.config.runtime
        document["msa_source"] = (
            f"{runtime.msa_server_url} (pairing {runtime.msa_pairing_strategy}); result store "
            f"msa/{server_msa_id(protein, plan.config)}"
        )
    elif mode == msa.FILE:
        document["msa_source"] = protein.msa
    identity = plan.msa_identities[name]
    if mode != msa.SINGLE_SEQUENCE and identity is not None:
        document["msa_sha256"] = identity.split(":", 1)[1]
    if mode == msa.SINGLE_SEQUENCE:
        document["warning"] = (
            "no MSA: reduced accuracy (single-sequence mode, `msa: empty`, which Boltz's "
            "documentation calls not recommended)"
        )
    return document


def summary(plan: Plan, table: pd.DataFrame, shards: list[ShardTotals]) -> dict:
    config = plan.config
    counts = table["status"].value_counts().to_dict()
    top_n = config.report.top_n
    weights = plan.weights
    document = {
        "screen": plan.screen,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "released_weights": weights.released,
        "weights": weights.to_json(),
        # How the `key` of each row was made (README, "What the key contains").
        "key_scheme": KEY_SCHEME,
        "proteins": [protein_summary(plan, protein.name) for protein in config.proteins],
        "counts": {
            "ligands": len(plan.ligands),
            "distinct_compounds": int(plan.ligands["canonical_smiles"].nunique()),
            "targets": plan.target_count,
            "rows": len(table),
            "completed": int(counts.get("completed", 0)),
            "failed": int(counts.get("failed", 0)),
            "computed": sum(s.computed for s in shards),
            "reused_from_store": sum(s.reused for s in shards),
            "shards": len(shards),
        },
        "statistics": {field: _statistics(table[field]) for field in SCORE_FIELDS},
        "top_by_binder_probability": _top(
            table, "affinity_probability_binary", ascending=False, n=top_n
        ),
        "top_by_affinity": _top(table, "affinity_pred_value", ascending=True, n=top_n),
        "top_by_confidence": _top(table, "confidence_score", ascending=False, n=top_n),
        "timing": {
            "boltz_wall_s": round(sum(s.boltz_wall_s for s in shards), 3),
            "job_wall_s": round(sum(s.job_wall_s for s in shards), 3),
        },
        # GPU seconds per computed target and per screen, and their cost at cost.gpu_hourly_usd.
        "gpu": spent([shard.to_json() for shard in shards], config.cost),
        "units": {
            "affinity_pred_value": "log10(IC50 / uM), Boltz-2",
            "ic50_um": "10 ** affinity_pred_value, micromolar",
            "pic50": "6 - affinity_pred_value",
            "delta_g_kcal_mol": "(affinity_pred_value - 6) * 1.364, approx. binding free "
            "energy at 298 K treating IC50 as Kd",
        },
        "parameters": {
            "model": config.model.model_dump(mode="json"),
            "runtime": config.runtime.model_dump(mode="json"),
            "shard_size": config.sharding.shard_size,
            "store": config.store,
        },
        "software": software_versions(),
        "command": " ".join(sys.argv),
    }
    if not weights.released:
        document["warning"] = (
            f"NOT PREDICTIONS: computed with {weights.note}; do not use these scores"
        )
    return document


def write_results(plan: Plan, manifests: list[str | Path], csv_path: Path, summary_path: Path):
    records, shards = read_manifests(manifests)
    table = results_table(plan, records)
    table.to_csv(csv_path, index=False)
    summary_path.write_text(json.dumps(summary(plan, table, shards), indent=1) + "\n")
