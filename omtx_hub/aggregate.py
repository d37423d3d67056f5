"""Per-screen results: `batch_results.csv` (one ranked row per protein x sheet ligand) and
the same table as `batch_results.parquet` (typed as `omtx_hub.result_tables.result_dtypes`),
`summary.json` (`omtx_hub.summary.ScreenSummary`: counts, per-protein statistics and top lists
(`omtx_hub.protein_summary`), the best targets, parameters, versions, weights), ranked as
`omtx_hub.ranking` says, and for a selectivity panel `selectivity.csv`
(`omtx_hub.selectivity`).
"""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from omtx_hub import msa
from omtx_hub.cost import spent
from omtx_hub.fileio import replaced_atomically
from omtx_hub.keys import KEY_SCHEME
from omtx_hub.plan import Plan, PlannedScreen
from omtx_hub.protein_summary import (
    not_applicable_fields,
    protein_chains,
    protein_summary,
    top_list,
    without_not_applicable,
)
from omtx_hub.ranking import rank_within_proteins, rule_in_words
from omtx_hub.records import (
    NO_MSA,
    RESULT_COLUMNS,
    SCORE_FIELDS,
    ManifestEntry,
    ShardTotals,
    read_manifest,
)
from omtx_hub.replicates import combine_replicates, replicates_summary
from omtx_hub.result_tables import (
    FILE,
    FLAGS_SEPARATOR,
    INTERACTION_TABLE_COLUMNS,
    LIGAND_ATOMS_SEPARATOR,
    SERVER,
    SINGLE_SEQUENCE,
    neutralised,
    pose_check_columns,
    result_column_of_sheet_column,
    split_flags,
    typed_results,
)
from omtx_hub.selectivity import selectivity_summary, selectivity_table
from omtx_hub.sheet import molecule_identities, sheet_own_columns
from omtx_hub.summary import (
    SUMMARY_VERSION,
    UNITS,
    CompoundCounts,
    Counts,
    FlagCount,
    Parameters,
    Protein,
    Ranking,
    ScreenSummary,
    Timing,
    write_summary,
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


def results_table(plan: Plan | PlannedScreen, records: list[ManifestEntry]) -> pd.DataFrame:
    receptors = {protein.name: protein.receptor for protein in plan.config.proteins}
    msa_modes = {name: msa.receptor_mode(receptor) for name, receptor in receptors.items()}
    # The flags a row gets from its protein (records.PROTEIN_FLAGS), after its ligand's.
    protein_flags = {
        name: [NO_MSA] if msa.lacks_msa(receptor) else [] for name, receptor in receptors.items()
    }
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
                    "failure": record.failure,
                    **scores,
                    **pose_check_columns(record.triage),
                    "source": record.source,
                    # GPU wall seconds this screen spent on the compound (its share of the shard).
                    "runtime_s": record.runtime_s,
                    "structure": record.structures.get(ligand.ligand_id),
                    "key": record.key,
                    "released_weights": record.weights.released,
                    "msa": msa_modes[record.protein],
                    "replicate": record.replicate,
                }
            )
    table = pd.DataFrame(rows)
    if len(plan.seeds) > 1:
        table = combine_replicates(table, plan.seeds)
    table = table.drop(columns="replicate", errors="ignore")
    # A sheet's own column that shares a name with a result column is kept with a prefix
    # (validation refused a sheet where that would give two columns one name).
    own = {c: result_column_of_sheet_column(c) for c in sheet_own_columns(plan.ligands.columns)}
    sheet = (
        plan.ligands.drop(columns=["line", "heavy_atoms", "ligand_id"])
        .rename(columns=own)
        .rename(columns={"name": "ligand_name"})
    )
    table = table.merge(sheet, on="index", how="left")
    # The ligand's flags (from the sheet), then its protein's.
    table["flags"] = [
        FLAGS_SEPARATOR.join([*split_flags(ligand), *protein_flags[p]])
        for ligand, p in zip(table["flags"], table["protein"], strict=True)
    ]
    config = plan.config
    table = rank_within_proteins(
        table, rank_by=config.rank_by, binder_threshold=config.report.binder_threshold
    )
    table = without_not_applicable(table, not_applicable_fields(config))
    extra = [c for c in table.columns if c not in RESULT_COLUMNS]
    columns = [c for c in RESULT_COLUMNS if c in table.columns]
    return table[columns + extra].reset_index(drop=True)


def interaction_table(records: list[ManifestEntry]) -> pd.DataFrame:
    """interactions.csv: every interaction of every checked pose (each replicate's), one row
    per interaction and sheet row of the compound, in Boltz's residue numbering."""
    rows = [
        {
            "protein": record.protein,
            "key": record.key,
            "replicate": record.replicate,
            "index": ligand.index,
            "ligand_id": ligand.ligand_id,
            **interaction.model_dump(exclude={"ligand_atoms"}),
            "ligand_atoms": LIGAND_ATOMS_SEPARATOR.join(interaction.ligand_atoms),
        }
        for record in records
        if record.triage is not None
        for interaction in record.triage.interactions
        for ligand in record.ligands
    ]
    return pd.DataFrame(rows, columns=INTERACTION_TABLE_COLUMNS)


def flag_counts(table: pd.DataFrame) -> dict[str, FlagCount]:
    """For each flag code in the table: how many rows (protein x ligand) and how many sheet
    ligands carry it."""
    flags = table["flags"].fillna("").astype(str).str.split(FLAGS_SEPARATOR)
    codes = table[["index"]].assign(flag=flags).explode("flag")
    codes = codes[codes["flag"] != ""]
    return {
        flag: FlagCount(rows=len(rows), ligands=int(rows["index"].nunique()))
        for flag, rows in sorted(codes.groupby("flag"), key=lambda item: item[0])
    }


def protein_entry(plan: Plan | PlannedScreen, name: str) -> Protein:
    """A protein in summary.json: its receptor (omtx_hub.receptor) and each chain's MSA (mode,
    source, the sha256 the keys contain), with the single-sequence warning. A single chain's
    MSA is also given at the top, as for every single-chain screen."""
    protein = plan.protein(name)
    receptor = protein.receptor
    runtime = plan.config.runtime
    identities = plan.msa_identities[name] or {}
    document = {"name": name, **receptor.summary(), "msa": msa.receptor_mode(receptor)}
    for entry, chain in zip(document["chains"], receptor.chains, strict=True):
        mode = msa.mode(chain.msa)
        entry["msa"] = mode
        if mode == SERVER:
            entry["msa_source"] = (
                f"{runtime.msa_server_url} (pairing {runtime.msa_pairing_strategy}); result "
                f"store msa/{plan.server_msa_ids[name]}"
            )
        elif mode == FILE:
            entry["msa_source"] = chain.msa
        identity = identities.get(chain.ids[0])
        if mode != SINGLE_SEQUENCE and identity is not None:
            entry["msa_sha256"] = identity.split(":", 1)[1]
    if len(receptor.chains) == 1:
        only = document["chains"][0]
        document |= {key: only[key] for key in ("msa_source", "msa_sha256") if key in only}
    if msa.lacks_msa(receptor):
        document["warning"] = (
            "no MSA: reduced accuracy (single-sequence mode, `msa: empty`, which Boltz's "
            "documentation calls not recommended)"
        )
    return Protein.model_validate(document)


def summary(
    plan: Plan | PlannedScreen,
    table: pd.DataFrame,
    shards: list[ShardTotals],
    panel: pd.DataFrame | None = None,
) -> ScreenSummary:
    """summary.json's document; `panel` is the selectivity table when the caller has already
    built it (selectivity.csv), else it is built here for a screen with a panel."""
    config = plan.config
    statuses = table["status"].value_counts().to_dict()
    top_n = config.report.top_n
    binder_threshold = config.report.binder_threshold
    weights = plan.weights
    chains = protein_chains(config)
    not_applicable = not_applicable_fields(config)
    per_protein = {
        protein.name: protein_summary(
            table[table["protein"] == protein.name],
            chains=chains[protein.name],
            not_applicable=not_applicable[protein.name],
            binder_threshold=binder_threshold,
            top_n=top_n,
        )
        for protein in config.proteins
    }
    # The parts only some screens have: left unset (absent from the file) otherwise.
    optional = {}
    if len(plan.seeds) > 1:
        optional["replicates"] = replicates_summary(plan.seeds)
    if config.selectivity is not None:
        if panel is None:
            panel = panel_table(plan, table)
        optional["selectivity"] = selectivity_summary(
            panel, config.selectivity.target, config.selectivity.anti_targets
        )
    if not weights.released:
        optional["warning"] = (
            f"NOT PREDICTIONS: computed with {weights.note}; do not use these scores"
        )
    return ScreenSummary(
        summary_version=SUMMARY_VERSION,
        screen=plan.screen,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        released_weights=weights.released,
        weights=weights,
        key_scheme=KEY_SCHEME,
        proteins=[protein_entry(plan, protein.name) for protein in config.proteins],
        counts=Counts(
            ligands=len(plan.ligands),
            distinct_compounds=int(molecule_identities(plan.ligands).nunique()),
            standardised=int((plan.ligands["standardisation"] != "").sum()),
            targets=plan.target_count,
            rows=len(table),
            completed=int(statuses.get("completed", 0)),
            failed=int(statuses.get("failed", 0)),
            computed=sum(s.computed for s in shards),
            reused_from_store=sum(s.reused for s in shards),
            shards=len(shards),
        ),
        ranking=Ranking(
            rank_by=config.rank_by,
            rule=rule_in_words(config.rank_by),
            binder_threshold=binder_threshold,
        ),
        overall=CompoundCounts(
            **{
                field: sum(getattr(entry.counts, field) for entry in per_protein.values())
                for field in CompoundCounts.model_fields
            }
        ),
        per_protein=per_protein,
        best_targets=top_list(table, top_n, config.rank_by, binder_threshold),
        flags=flag_counts(table),
        timing=Timing(
            boltz_wall_s=round(sum(s.boltz_wall_s for s in shards), 3),
            job_wall_s=round(sum(s.job_wall_s for s in shards), 3),
        ),
        gpu=spent([shard.to_json() for shard in shards], config.cost),
        units=UNITS,
        parameters=Parameters(
            model=config.model.model_dump(mode="json"),
            runtime=config.runtime.model_dump(mode="json"),
            shard_size=config.sharding.shard_size,
            store=config.store,
        ),
        software=software_versions(),
        command=" ".join(sys.argv),
        **optional,
    )


def panel_table(plan: Plan | PlannedScreen, table: pd.DataFrame) -> pd.DataFrame:
    """selectivity.csv's table of the screen's selectivity panel, from the results table."""
    config = plan.config
    return selectivity_table(
        table,
        config.selectivity.target,
        config.selectivity.anti_targets,
        binder_threshold=config.report.binder_threshold,
    )


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """`table` as a CSV file, replaced atomically; text a spreadsheet would run as a formula
    is written as text (result_tables.neutralised)."""
    with replaced_atomically(path) as staging:
        neutralised(table).to_csv(staging, index=False)


def write_parquet(table: pd.DataFrame, path: Path) -> None:
    """The results table as batch_results.parquet, replaced atomically: each column of its
    declared type, text as it is (result_tables.typed_results)."""
    with replaced_atomically(path) as staging:
        typed_results(table).to_parquet(staging, engine="pyarrow", index=False)


def write_results(
    plan: Plan | PlannedScreen,
    manifests: list[str | Path],
    csv_path: Path,
    summary_path: Path,
    selectivity_path: Path | None = None,
    *,
    parquet_path: Path,
    interactions_path: Path | None = None,
):
    """batch_results.csv, the same table as batch_results.parquet (`parquet_path`),
    summary.json and, for a screen with a selectivity panel, selectivity.csv
    (`selectivity_path`); with `interactions_path`, interactions.csv."""
    records, shards = read_manifests(manifests)
    table = results_table(plan, records)
    write_csv(table, csv_path)
    write_parquet(table, parquet_path)
    if interactions_path is not None:
        write_csv(interaction_table(records), interactions_path)
    panel = None
    if plan.config.selectivity is not None:
        if selectivity_path is None:
            raise ValueError("the screen has a selectivity panel: give selectivity_path")
        # Built once, for selectivity.csv and for summary.json's counts of it.
        panel = panel_table(plan, table)
        write_csv(panel, selectivity_path)
    write_summary(summary(plan, table, shards, panel), summary_path)
