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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from omtx_hub import msa
from omtx_hub.chemistry_cache import chemistry_columns
from omtx_hub.config import ConfigError, ScreenConfig
from omtx_hub.cost import spent
from omtx_hub.fileio import replaced_atomically
from omtx_hub.keys import KEY_SCHEME
from omtx_hub.plan import Plan, PlannedScreen, main_engine
from omtx_hub.protein_summary import (
    not_applicable_fields,
    protein_chains,
    protein_summary,
    top_list,
    without_not_applicable,
)
from omtx_hub.ranking import rank_order, rule_in_words
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.records import (
    AFFINITY_FIELDS,
    AFFINITY_HEAD_FIELDS,
    BINDER_RESIDUE_PLDDT,
    BINDER_SCORE_FIELDS,
    CHAI1_CHAIN_PAIR_IPTM,
    CHAI1_CLASHES,
    CHAI1_COLUMNS,
    CHAI1_SCORE,
    COFACTOR_AFFINITY,
    CONFIDENCE_FIELDS,
    COVALENT_AFFINITY,
    DERIVED_FIELDS,
    NO_MSA,
    NUCLEIC_ACID_AFFINITY,
    RESULT_COLUMNS,
    SCORE_FIELDS,
    SPREAD_FIELDS,
    TRIAGE_COLUMN,
    ManifestEntry,
    ShardTotals,
    read_manifest,
)
from omtx_hub.replicates import combine_replicates, replicates_summary
from omtx_hub.result_tables import (
    BOLTZ_NUMBERING,
    FILE,
    FLAGS_SEPARATOR,
    INTERACTION_TABLE_COLUMNS,
    LIGAND_ATOMS_SEPARATOR,
    POSE_CHECK_COLUMNS,
    SERVER,
    SINGLE_SEQUENCE,
    TEXT_DTYPE,
    ResidueNumbering,
    neutralised,
    pose_check_columns,
    result_column_of_sheet_column,
    split_flags,
    typed_results,
    user_number,
)
from omtx_hub.screen_consensus import consensus_summary, with_consensus
from omtx_hub.selectivity import selectivity_summary, selectivity_table
from omtx_hub.sheet import (
    BINDER_SHEET_COLUMNS,
    is_binder_sheet,
    molecule_identities,
    sheet_own_columns,
)
from omtx_hub.store import ResultStore, open_store
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
from omtx_hub.triage import purchase_list, triage_verdicts

SOFTWARE = ("boltz", "torch", "rdkit", "snakemake", "pandas", "pydantic", "omtx-hub")


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in SOFTWARE:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


# The columns each manifest entry gives its rows (one per sheet row of its compound), in the
# results table's order before the sheet's are joined; `_TEXT` are strings, `_FLOATS` numbers.
_FLOATS = (*SCORE_FIELDS, *BINDER_SCORE_FIELDS, CHAI1_SCORE, "runtime_s")
_TEXT = (
    BINDER_RESIDUE_PLDDT,
    CHAI1_CHAIN_PAIR_IPTM,
    "protein",
    "ligand_id",
    "status",
    "error",
    "failure",
    "source",
    "structure",
    "key",
    "posebusters_failed",
    "interactions",
    "pose_checks_error",
)
# True, False or missing (a target without a completed prediction or checks).
_NULLABLE_BOOLEANS = ("posebusters_pass", CHAI1_CLASHES)
_ROW_COLUMNS = (
    "protein",
    "index",
    "ligand_id",
    "status",
    "error",
    "failure",
    *SCORE_FIELDS,
    *BINDER_SCORE_FIELDS,
    BINDER_RESIDUE_PLDDT,
    *CHAI1_COLUMNS,
    *POSE_CHECK_COLUMNS,
    "source",
    "runtime_s",
    "structure",
    "key",
    "released_weights",
    "replicate",
)
_NUMBER_DTYPES = dict.fromkeys(_FLOATS, float) | {
    "index": np.int64,
    "released_weights": bool,
    "replicate": np.int64,
}


# Rows gathered as Python values before they are made a chunk of Arrow and numpy arrays: a
# few shards' at a time. (A chunk per shard left a million-row screen's columns as 250,000
# small arrays, each pinning memory that the manifests' validation had freed around it: some
# 300 MiB.)
BATCH_ROWS = 10_000


class ResultRows:
    """The rows of shard manifests' records (one per record x sheet row of its compound) as
    columns: added in chunks of Arrow and numpy arrays (BATCH_ROWS rows each), so that a
    screen's rows cost a few bytes per cell, not a Python object each, and no manifest's
    records are kept."""

    def __init__(self, numbering: Mapping[str, ResidueNumbering] | None = None):
        """`numbering`: protein -> its user residue numbering (ScreenConfig.residue_numbering),
        in which the `interactions` column names residues."""
        self._chunks: dict[str, list] = {column: [] for column in _ROW_COLUMNS}
        self._numbering = numbering or {}
        self._pending: dict[str, list] = {column: [] for column in _ROW_COLUMNS}

    def add(self, records: Iterable[ManifestEntry]) -> None:
        """Add the rows of `records` (validated: a shard manifest's, or built as one)."""
        values = self._pending
        for record in records:
            # The per-target lookup: a target's pose checks, the same for each of its rows.
            pose_checks = pose_check_columns(
                record.triage, self._numbering.get(record.protein, BOLTZ_NUMBERING)
            )
            residue_plddt = binder_residue_plddt(record.binder_residue_plddt)
            chain_pairs = chain_pair_iptm(record.per_chain_pair_iptm)
            for ligand in record.ligands:
                for column, value in pose_checks.items():
                    values[column].append(value)
                for field in _FLOATS:
                    values[field].append(getattr(record, field))
                values[BINDER_RESIDUE_PLDDT].append(residue_plddt)
                values[CHAI1_CHAIN_PAIR_IPTM].append(chain_pairs)
                values[CHAI1_CLASHES].append(record.has_inter_chain_clashes)
                values["protein"].append(record.protein)
                values["index"].append(ligand.index)
                values["ligand_id"].append(ligand.ligand_id)
                values["status"].append(record.status)
                values["error"].append(record.error)
                values["failure"].append(record.failure)
                values["source"].append(record.source)
                values["structure"].append(record.structures.get(ligand.ligand_id))
                values["key"].append(record.key)
                values["released_weights"].append(record.weights.released)
                values["replicate"].append(record.replicate)
        if len(values["protein"]) >= BATCH_ROWS:
            self._make_chunk()

    def _make_chunk(self) -> None:
        """The rows added since the last chunk, made one chunk of each column."""
        values, self._pending = self._pending, {column: [] for column in _ROW_COLUMNS}
        for column, column_values in values.items():
            if column in _TEXT:
                self._chunks[column].append(pa.array(column_values, type=pa.large_string()))
            elif column in _NULLABLE_BOOLEANS:
                self._chunks[column].append(pa.array(column_values, type=pa.bool_()))
            else:
                self._chunks[column].append(np.array(column_values, dtype=_NUMBER_DTYPES[column]))

    def frame(self) -> pd.DataFrame:
        """The rows as a table, each column of the type pandas gives such values: text as
        Arrow strings (a column with no text at all: missing values), numbers as numpy. The
        rows are handed over: each column's chunks are let go once it is made, and the
        builder is empty after."""
        self._make_chunk()
        columns = {}
        for column in _ROW_COLUMNS:
            chunks, self._chunks[column] = self._chunks[column], []
            if column in _TEXT:
                text = pa.chunked_array(chunks, type=pa.large_string()).combine_chunks()
                columns[column] = (
                    pd.Series([None] * len(text), dtype=object)
                    if text.null_count == len(text)
                    else pd.Series(text, dtype=TEXT_DTYPE)
                )
            elif column in _NULLABLE_BOOLEANS:
                flags = pa.chunked_array(chunks, type=pa.bool_()).combine_chunks()
                columns[column] = (
                    pd.Series([None] * len(flags), dtype=object)
                    if flags.null_count == len(flags)
                    else flags.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
                )
            else:
                dtype = _NUMBER_DTYPES[column]
                columns[column] = np.concatenate([np.array([], dtype=dtype), *chunks])
        return pd.DataFrame(columns, copy=False)


def binder_residue_plddt(values: list[float] | None) -> str | None:
    """A binder's per-residue pLDDT as batch_results.csv's column: 0-1 values, 2 decimals,
    separated by FLAGS_SEPARATOR, in sequence order."""
    if values is None:
        return None
    return FLAGS_SEPARATOR.join(f"{value:.2f}" for value in values)


def chain_pair_iptm(matrix: list[list[float]] | None) -> str | None:
    """A Chai-1 prediction's per-chain-pair ipTM as batch_results.csv's column: each ordered
    pair of different chains as `A:B=0.81` (chain letters as in its structure), separated by
    FLAGS_SEPARATOR."""
    if matrix is None:
        return None
    return FLAGS_SEPARATOR.join(
        f"{chr(ord('A') + i)}:{chr(ord('A') + j)}={value:.2f}"
        for i, row in enumerate(matrix)
        for j, value in enumerate(row)
        if i != j
    )


# The columns of a screen by one engine that the other's has not (docs/engines.md): Boltz-2's
# affinity and its own confidence fields (Chai-1 shares `ptm` and `iptm`), Chai-1's scores.
BOLTZ2_ONLY_COLUMNS = (
    *AFFINITY_FIELDS,
    *AFFINITY_HEAD_FIELDS,
    *DERIVED_FIELDS,
    *(field for field in CONFIDENCE_FIELDS if field not in ("ptm", "iptm")),
    *(f"{field}_std" for field in SPREAD_FIELDS),
)


# Chai-1's own settings (config.Model, config.Runtime): summary.json's parameters of a Boltz-2
# screen are what they were before engines existed.
CHAI1_SETTINGS = {"engine", "use_esm_embeddings", "chai1_python", "chai1_downloads"}


def other_engine_settings(config: ScreenConfig) -> set[str]:
    """The `model` and `runtime` settings summary.json leaves out: Chai-1's, from a screen
    that runs Boltz-2 alone."""
    return CHAI1_SETTINGS if config.engines == {"boltz2"} else set()


def columns_of_other_engine(engine: str) -> tuple[str, ...]:
    """The result columns that `engine` does not fill."""
    return BOLTZ2_ONLY_COLUMNS if engine == "chai1" else CHAI1_COLUMNS


def other_engine_columns(config: ScreenConfig) -> tuple[str, ...]:
    """The result columns that no engine of the screen fills (in a screen of both, each
    protein's rows leave the other engine's empty)."""
    (engine, *others) = config.engines
    return () if others else columns_of_other_engine(engine)


def engine_rows(table: pd.DataFrame, config: ScreenConfig, protein: str) -> pd.DataFrame:
    """The table's rows of `protein` with the columns its engine fills, as a screen of its
    engine alone has them (the table itself when it has no other protein's rows)."""
    rows = rows_of(table, protein)
    if len(config.engines) == 1:
        return rows
    return rows.drop(
        columns=list(columns_of_other_engine(config.engine_of(protein))), errors="ignore"
    )


# The columns of a molecule screen that a binder-sequence screen has not (omtx_hub.binders):
# its affinity (Boltz predicts none for a binder chain), the molecule's, and the pose checks
# of a small molecule; and those only a binder screen has.
MOLECULE_ONLY_COLUMNS = (
    *AFFINITY_FIELDS,
    *AFFINITY_HEAD_FIELDS,
    *DERIVED_FIELDS,
    *(f"{field}_std" for field in AFFINITY_FIELDS),
    "smiles",
    "ccd",
    "canonical_smiles",
    "modeled_smiles",
    "standardisation",
    *POSE_CHECK_COLUMNS,
)
BINDER_ONLY_COLUMNS = (*BINDER_SCORE_FIELDS, BINDER_RESIDUE_PLDDT)


def screen_rank_by(plan: Plan | PlannedScreen) -> str:
    """The ranking in force: a binder-sequence screen's by `binder_iptm` (omtx_hub.ranking),
    any other's by the config's, of its main engine's proteins (omtx_hub.plan.main_engine)."""
    if is_binder_sheet(plan.ligands.columns):
        return "binder_iptm"
    return plan.config.engine_rank_by(main_engine(plan.config))


def protein_rank_by(plan: Plan | PlannedScreen) -> str | dict[str, str]:
    """How each protein's rows are ranked: `screen_rank_by`, or in a screen of two engines
    each protein's by its engine's rule (protein -> `config.rank_by_of`)."""
    if len(plan.config.engines) == 1 or is_binder_sheet(plan.ligands.columns):
        return screen_rank_by(plan)
    return {protein.name: plan.config.rank_by_of(protein) for protein in plan.config.proteins}


def not_applicable_to(plan: Plan | PlannedScreen) -> dict[str, dict[str, str]]:
    """Per protein, the confidence fields that are 0 by construction for the screen's
    chains (a binder screen's: with each type of its binders)."""
    ligands = plan.ligands
    types = set(ligands["chain_type"]) if is_binder_sheet(ligands.columns) else ()
    return not_applicable_fields(plan.config, types)


def read_manifests(
    paths: list[str | Path],
    add_interactions: Callable[[pd.DataFrame], None] | None = None,
    numbering: Mapping[str, ResidueNumbering] | None = None,
) -> tuple[ResultRows, list[ShardTotals]]:
    """(rows, shard totals) of shard manifest files, read one at a time: each validated whole
    (records.read_manifest), its rows added as columns, its interactions (`interaction_table`)
    handed to `add_interactions` where given, its records let go. Residues in each protein's
    user `numbering` (ScreenConfig.residue_numbering), Boltz's for one it leaves out."""
    rows = ResultRows(numbering)
    shards: list[ShardTotals] = []
    for path in paths:
        manifest = read_manifest(path)
        rows.add(manifest.records)
        if add_interactions is not None:
            add_interactions(interaction_table(manifest.records, numbering))
        shards.append(manifest.totals())
    return rows, shards


def flags_of_protein(receptor: ReceptorSpec, *, affinity: bool) -> list[str]:
    """The flags a row gets from its protein (records.PROTEIN_FLAGS), after its ligand's:
    `no-msa` for a chain without an MSA; with affinity, `cofactor-affinity` for cofactors in
    the receptor, `covalent-affinity` for a covalent site, `nucleic-acid-affinity` for a DNA or
    RNA chain."""
    return [
        *([NO_MSA] if msa.lacks_msa(receptor) else []),
        *([COFACTOR_AFFINITY] if affinity and receptor.cofactors else []),
        *([COVALENT_AFFINITY] if affinity and receptor.covalent is not None else []),
        *(
            [NUCLEIC_ACID_AFFINITY]
            if affinity and any(chain.type != "protein" for chain in receptor.chains)
            else []
        ),
    ]


def results_table(
    plan: Plan | PlannedScreen,
    rows: ResultRows,
    store: ResultStore | None = None,
    structures: Mapping[str, Path] | None = None,
) -> pd.DataFrame:
    """batch_results' table: a ranked row per protein x sheet ligand; for a screen with
    triage rules, each molecule's chemistry is taken from `store` (default: the config's;
    computed there once, omtx_hub.chemistry_cache) and each row's triage verdict added; for
    one with `consensus` pairs, their columns (omtx_hub.screen_consensus), from the exported
    `structures` (file name -> path; None: not compared, as on a progress page)."""
    receptors = {protein.name: protein.receptor for protein in plan.config.proteins}
    protein_flags = {
        name: flags_of_protein(receptor, affinity=plan.config.model_of(name).affinity)
        for name, receptor in receptors.items()
    }
    table = rows.frame()
    msa_modes = {name: msa.receptor_mode(receptor) for name, receptor in receptors.items()}
    table.insert(
        table.columns.get_loc("released_weights") + 1, "msa", table["protein"].map(msa_modes)
    )
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
    config = plan.config
    binder_screen = is_binder_sheet(plan.ligands.columns)
    by_index = sheet.set_index("index")
    if config.triage is not None:
        modeled_smiles = by_index["modeled_smiles"].reindex(table["index"].to_numpy())
        table = with_chemistry_and_triage(
            table, modeled_smiles.set_axis(table.index), config, store or open_store(config.store)
        )
    # Ranked before the sheet's columns join: the sort moves only the rows' own columns.
    positions, ranks = rank_order(
        table,
        rank_by=protein_rank_by(plan),
        binder_threshold=config.report.binder_threshold,
        triage_first=ranks_triage_first(config),
    )
    table = rows_taken(table, positions)
    table.insert(0, "rank", ranks)
    # Each row's sheet row, as a left join on `index` would give it, without a copy of the
    # rows' columns.
    joined = by_index.reindex(table["index"].to_numpy()).reset_index(drop=True)
    table = pd.concat([table, joined], axis=1)
    table["flags"] = with_protein_flags(table["flags"], table["protein"], protein_flags)
    table = without_not_applicable(table, not_applicable_to(plan))
    # Before the other engine's columns go: the Chai-1 rows' scores are copied across.
    table = with_consensus(config, table, structures)
    absent = MOLECULE_ONLY_COLUMNS if binder_screen else BINDER_ONLY_COLUMNS
    absent += other_engine_columns(config)
    table = table.drop(columns=list(absent), errors="ignore")
    extra = [c for c in table.columns if c not in RESULT_COLUMNS]
    columns = [c for c in RESULT_COLUMNS if c in table.columns]
    return table[columns + extra].reset_index(drop=True)


def rows_taken(table: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """The rows of `table` at `positions`, numbered from 0, made a column at a time: each
    column is taken out of `table` (left empty) as its copy is made, so that the table is
    never held twice (at a million rows, its own columns are some 600 MiB)."""
    columns = {name: table.pop(name).array.take(positions) for name in list(table.columns)}
    return pd.DataFrame(columns, copy=False)


def interaction_table(
    records: Iterable[ManifestEntry], numbering: Mapping[str, ResidueNumbering] | None = None
) -> pd.DataFrame:
    """interactions.csv: every interaction of every checked pose (each replicate's), one row
    per interaction and sheet row of the compound: `number` in its protein's user
    `numbering` (ScreenConfig.residue_numbering; Boltz's without one), `boltz_number` in
    Boltz's (1 along the sequence)."""
    numbering = numbering or {}
    rows = [
        {
            "protein": record.protein,
            "key": record.key,
            "replicate": record.replicate,
            "index": ligand.index,
            "ligand_id": ligand.ligand_id,
            **interaction.model_dump(exclude={"ligand_atoms"}),
            "number": user_number(interaction, numbering.get(record.protein, BOLTZ_NUMBERING)),
            "boltz_number": interaction.number,
            "ligand_atoms": LIGAND_ATOMS_SEPARATOR.join(interaction.ligand_atoms),
        }
        for record in records
        if record.triage is not None
        for interaction in record.triage.interactions
        for ligand in record.ligands
    ]
    return pd.DataFrame(rows, columns=INTERACTION_TABLE_COLUMNS)


def with_protein_flags(
    flags: pd.Series, proteins: pd.Series, protein_flags: dict[str, list[str]]
) -> pd.Series:
    """Each row's `flags`: its ligand's (from the sheet), then its protein's. Joined once per
    distinct (ligand flags, protein), which are few, and spread over the rows by code."""
    ligand_codes, ligand_flags = pd.factorize(flags, use_na_sentinel=False)
    protein_codes, names = pd.factorize(proteins)
    pairs, rows = np.unique(ligand_codes * max(len(names), 1) + protein_codes, return_inverse=True)
    joined = np.array(
        [
            FLAGS_SEPARATOR.join(
                [
                    *split_flags(ligand_flags[pair // len(names)]),
                    *protein_flags[names[pair % len(names)]],
                ]
            )
            for pair in pairs
        ],
        dtype=object,
    )
    return pd.Series(joined[rows.reshape(-1)], index=flags.index, dtype=TEXT_DTYPE)


def with_chemistry_and_triage(
    table: pd.DataFrame, modeled_smiles: pd.Series, config: ScreenConfig, store: ResultStore
) -> pd.DataFrame:
    """`table` with each molecule's alerts and properties (omtx_hub.medchem, by its
    `modeled_smiles`, one per row of `table`) and each row's `triage` verdict."""
    table = table.join(chemistry_columns(modeled_smiles, store))
    try:
        table[TRIAGE_COLUMN] = triage_verdicts(table, config.triage)
    except KeyError as error:
        raise ConfigError(error.args[0]) from None
    return table


def ranks_triage_first(config: ScreenConfig) -> bool:
    return config.triage is not None and config.triage.rank_within == "triage"


def flag_counts(table: pd.DataFrame) -> dict[str, FlagCount]:
    """For each flag code in the table: how many rows (protein x ligand) and how many sheet
    ligands carry it. Counted per distinct `flags` text (few), spread over the rows by code."""
    codes, texts = pd.factorize(table["flags"].fillna("").astype(str))
    each_text = [text.split(FLAGS_SEPARATOR) for text in texts]
    rows_of_text = np.bincount(codes, minlength=len(texts))
    counts = {}
    for flag in sorted({flag for flags in each_text for flag in flags if flag}):
        times = np.array([flags.count(flag) for flags in each_text])
        carrying = times[codes] > 0
        counts[flag] = FlagCount(
            rows=int((rows_of_text * times).sum()),
            ligands=int(table["index"][carrying].nunique()),
        )
    return counts


def protein_entry(plan: Plan | PlannedScreen, name: str) -> Protein:
    """A protein in summary.json: its receptor (omtx_hub.receptor) and each chain's MSA (mode,
    source, the sha256 the keys contain), with the single-sequence warning. A single chain's
    MSA is also given at the top, as for every single-chain screen."""
    protein = plan.protein(name)
    receptor = protein.receptor
    runtime = plan.config.runtime
    identities = plan.msa_identities[name] or {}
    config = plan.config
    engine = {"engine": config.engine_of(name)} if len(config.engines) > 1 else {}
    document = {"name": name, **engine, **receptor.summary(), "msa": msa.receptor_mode(receptor)}
    # The pocket and covalent site as the config gives them: in the protein's own
    # `residue_numbering` where it has one (the receptor's are Boltz's numbers).
    for part in ("pocket", "covalent"):
        if (written := getattr(protein, part)) is not None:
            document[part] = written.model_dump(mode="json")
    for entry, chain in zip(document["chains"], receptor.chains, strict=True):
        if not chain.has_msa:
            continue
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


def rows_of(table: pd.DataFrame, protein: str) -> pd.DataFrame:
    """The table's rows of `protein`: the table itself when it has no other (no copy)."""
    rows = table["protein"] == protein
    return table if rows.all() else table[rows]


def summary(
    plan: Plan | PlannedScreen,
    table: pd.DataFrame,
    shards: list[ShardTotals],
    panel: pd.DataFrame | None = None,
    compounds: int | None = None,
) -> ScreenSummary:
    """summary.json's document; `panel` is the selectivity table when the caller has already
    built it (selectivity.csv), else it is built here for a screen with a panel; `compounds`
    the sheet's `distinct_compounds` when the caller has counted them, else counted here."""
    config = plan.config
    statuses = table["status"].value_counts().to_dict()
    top_n = config.report.top_n
    binder_threshold = config.report.binder_threshold
    weights = plan.weights
    binder_types = (
        sorted(set(plan.ligands["chain_type"])) if is_binder_sheet(plan.ligands.columns) else []
    )
    # (One type's chains shown: a binder screen's of its first binders' type.)
    chains = protein_chains(config, binder_types[0] if binder_types else None)
    not_applicable = not_applicable_to(plan)
    per_protein = {
        protein.name: protein_summary(
            engine_rows(table, config, protein.name),
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
    if config.consensus:
        optional["consensus"] = consensus_summary(config, table)
    two_engines = len(config.engines) > 1
    unreleased = [
        w for w in (plan.engine_weights.values() if two_engines else [weights]) if not w.released
    ]
    if unreleased:
        optional["warning"] = (
            f"NOT PREDICTIONS: computed with {'; '.join(w.note for w in unreleased)}; "
            "do not use these scores"
        )
    rank_by = screen_rank_by(plan)
    by_protein = protein_rank_by(plan)
    # A screen of two engines: the top hits across proteins are those of the proteins ranked
    # by the screen's rule (scores of different rules do not compare).
    among = None
    if two_engines:
        optional["engine_weights"] = plan.engine_weights
        among = table["protein"].map(by_protein) == rank_by
    return ScreenSummary(
        summary_version=SUMMARY_VERSION,
        screen=plan.screen,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        released_weights=not unreleased,
        weights=weights,
        key_scheme=KEY_SCHEME,
        proteins=[protein_entry(plan, protein.name) for protein in config.proteins],
        counts=Counts(
            ligands=len(plan.ligands),
            distinct_compounds=(
                distinct_compounds(plan.ligands) if compounds is None else compounds
            ),
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
            rank_by=rank_by,
            rule=rule_in_words(rank_by),
            binder_threshold=binder_threshold,
            **({} if isinstance(by_protein, str) else {"by_protein": by_protein}),
        ),
        overall=CompoundCounts(
            **{
                field: sum(getattr(entry.counts, field) for entry in per_protein.values())
                for field in CompoundCounts.model_fields
            }
        ),
        per_protein=per_protein,
        best_targets=top_list(
            table, top_n, rank_by, binder_threshold, among, triage_first=ranks_triage_first(config)
        ),
        flags=flag_counts(table),
        timing=Timing(
            boltz_wall_s=round(sum(s.boltz_wall_s for s in shards), 3),
            job_wall_s=round(sum(s.job_wall_s for s in shards), 3),
        ),
        gpu=spent(
            [shard.to_json() for shard in shards],
            config.cost,
            {p.name: config.engine_of(p.name) for p in config.proteins} if two_engines else None,
        ),
        units=UNITS,
        parameters=Parameters(
            model=config.model.model_dump(mode="json", exclude=other_engine_settings(config)),
            runtime=config.runtime.model_dump(mode="json", exclude=other_engine_settings(config)),
            shard_size=config.sharding.shard_size,
            store=config.store,
        ),
        software=software_versions(),
        command=" ".join(sys.argv),
        **optional,
    )


def distinct_compounds(ligands: pd.DataFrame) -> int:
    """The sheet's distinct molecules, or a binder sheet's distinct chains."""
    if is_binder_sheet(ligands.columns):
        return len(ligands[list(BINDER_SHEET_COLUMNS)].drop_duplicates())
    return int(molecule_identities(ligands).nunique())


def panel_table(plan: Plan | PlannedScreen, table: pd.DataFrame) -> pd.DataFrame:
    """selectivity.csv's table of the screen's selectivity panel, from the results table."""
    config = plan.config
    return selectivity_table(
        table,
        config.selectivity.target,
        config.selectivity.anti_targets,
        binder_threshold=config.report.binder_threshold,
    )


# Rows written at a time: the CSV's text and the Parquet's typed columns are made for one
# chunk (a Parquet row group) at a time, never for the whole table at once.
CHUNK_ROWS = 100_000


def _chunks(table: pd.DataFrame):
    """`table` in CHUNK_ROWS slices (one, empty, for an empty table)."""
    for start in range(0, max(len(table), 1), CHUNK_ROWS):
        yield table.iloc[start : start + CHUNK_ROWS]


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """`table` as a CSV file, replaced atomically; text a spreadsheet would run as a formula
    is written as text (result_tables.neutralised)."""
    with replaced_atomically(path) as staging, open(staging, "w", newline="") as handle:
        for number, chunk in enumerate(_chunks(table)):
            neutralised(chunk).to_csv(handle, index=False, header=number == 0)


@contextmanager
def csv_in_parts(
    path: Path | None, columns: list[str]
) -> Iterator[Callable[[pd.DataFrame], None] | None]:
    """A CSV file of `columns` written a part at a time: yields the function that appends a
    part (its text neutralised as in `write_csv`); the file replaces `path` atomically when
    the block ends. None (and no file) for no `path`."""
    if path is None:
        yield None
        return
    with replaced_atomically(path) as staging, open(staging, "w", newline="") as handle:
        pd.DataFrame(columns=columns).to_csv(handle, index=False)

        def add(part: pd.DataFrame) -> None:
            if not part.empty:
                neutralised(part[columns]).to_csv(handle, index=False, header=False)

        yield add


def write_parquet(table: pd.DataFrame, path: Path) -> None:
    """The results table as batch_results.parquet, replaced atomically: each column of its
    declared type, text as it is (result_tables.typed_results), a row group per chunk."""
    with replaced_atomically(path) as staging:
        writer = None
        try:
            for chunk in _chunks(table):
                typed = pa.Table.from_pandas(typed_results(chunk), preserve_index=False)
                writer = writer or pq.ParquetWriter(staging, typed.schema)
                writer.write_table(typed)
        finally:
            if writer is not None:
                writer.close()


def write_results(
    plan: Plan | PlannedScreen,
    manifests: list[str | Path],
    csv_path: Path,
    summary_path: Path,
    selectivity_path: Path | None = None,
    *,
    parquet_path: Path,
    store: ResultStore | None = None,
    purchase_list_path: Path | None = None,
    interactions_path: Path | None = None,
    structures: Mapping[str, Path] | None = None,
):
    """batch_results.csv, the same table as batch_results.parquet (`parquet_path`),
    summary.json, for a screen with a selectivity panel selectivity.csv
    (`selectivity_path`) and for one with triage rules purchase_list.csv
    (`purchase_list_path`); with `interactions_path`, interactions.csv, written a shard at a
    time as the manifests are read. Molecules' chemistry is kept in `store` (default: the
    config's). A screen with `consensus` pairs compares their exported `structures` (file
    name -> path: screen_consensus.structure_paths)."""
    # Counted before the table is built: at a million rows the count's hash table of every
    # SMILES costs some 150 MiB, which beside the table would be the aggregation's peak.
    compounds = distinct_compounds(plan.ligands)
    if plan.config.consensus and structures is None:
        raise ValueError("the screen has consensus pairs: give structures")
    with csv_in_parts(interactions_path, INTERACTION_TABLE_COLUMNS) as add_interactions:
        rows, shards = read_manifests(manifests, add_interactions, plan.config.residue_numbering)
    table = results_table(plan, rows, store, structures)
    write_csv(table, csv_path)
    write_parquet(table, parquet_path)
    if plan.config.triage is not None:
        if purchase_list_path is None:
            raise ValueError("the screen has triage rules: give purchase_list_path")
        write_csv(purchase_list(table, plan.config.triage.purchase_top_k), purchase_list_path)
    panel = None
    if plan.config.selectivity is not None:
        if selectivity_path is None:
            raise ValueError("the screen has a selectivity panel: give selectivity_path")
        # Built once, for selectivity.csv and for summary.json's counts of it.
        panel = panel_table(plan, table)
        write_csv(panel, selectivity_path)
    write_summary(summary(plan, table, shards, panel, compounds), summary_path)
