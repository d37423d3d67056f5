"""Planning: from a checked config to the screen's plan (targets, their keys, GPU shards), the
one place that reads the ligand sheet and derives keys. omtx_hub.plan_artifact writes the plan
for the jobs, aggregation and progress to read back.

The unit of GPU work is a *shard*: up to `sharding.shard_size` targets of one protein,
predicted by a single `boltz predict` process, so the model is loaded once per shard.
Shards are consecutive runs of the sheet's distinct compounds in sheet order, so appending
ligands to a sheet only adds (or extends the last) shard of each protein.

Each target (protein x distinct compound) has a content-addressed key over everything that
determines its prediction (omtx_hub.keys); the result store is indexed by it, so nothing is
ever computed twice, across reruns and across screens.

With `model.replicates: n` each compound is a target n times, once per seed (`seed + r`),
each replicate with its own key and its own shards (one `--seed` per Boltz process), so the
replicates cache and resume as any target does.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Container, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from omtx_hub import keys, warheads
from omtx_hub.chai1 import chai1_weights
from omtx_hub.config import (
    ConfigError,
    Protein,
    Runtime,
    ScreenConfig,
    invalid_config,
    keyed_message,
)
from omtx_hub.fileio import sha256_bytes, sha256_file
from omtx_hub.layout import RESULTS, ScreenLayout
from omtx_hub.molecule_cache import ccd_lookup
from omtx_hub.msa_files import query_mismatch
from omtx_hub.msa_server import (
    StoredServerMsa,
    binder_query_id,
    recorded_binder_msas,
    recorded_server_msa,
    stored_server_msa,
)
from omtx_hub.plan_artifact import (
    PLAN_VERSION,
    PlannedProtein,
    PlannedShard,
    ScreenPlan,
    ShardSpec,
    changed_files,
    index_bytes,
    plan_path,
    read_plan,
    shard_spec_path,
    spec_bytes,
)
from omtx_hub.preflight import check_files
from omtx_hub.records import Binder, Ligand, Target, Weights
from omtx_hub.result_tables import SINGLE_SEQUENCE, TEXT_DTYPE
from omtx_hub.sheet import (
    CCD_IDENTITY_PREFIX,
    SheetError,
    binders_of,
    check_sheet_size,
    is_binder_sheet,
    molecule_identities,
    validate_sheet,
)
from omtx_hub.store import LOOKUP_THREADS, ResultStore
from omtx_hub.store_layout import SHEET_OBJECT, object_at, sheet_path
from omtx_hub.validated_molecules import ValidatedMolecules
from omtx_hub.weights import weights_in_use

log = logging.getLogger(__name__)

# A shard's name: its number among the protein's shards, then `-r<replicate>` for the
# shards of replicates after the first (00000, 00001, ..., 00000-r1, ...).
SHARD_NAME_PATTERN = r"\d{5}(?:-r\d+)?"
# A batch of binders' server MSAs: the number of the shards that screen them
# (`binder_msa_batch`).
BINDER_MSA_BATCH_PATTERN = r"\d{5}"
# Validated sheets are cached in the store as sealed objects, the table as TSV (field
# `SHEET_TABLE`) with these columns as numbers.
_INTEGER_COLUMNS = ("line", "index", "heavy_atoms")
SHEET_TABLE = "tsv"
# The fields set on every sheet row of a plan's targets. Each target and row is given its set
# of set fields (pydantic keeps the set it is given, `model_construct`'s `_fields_set`) shared
# with the others, where pydantic would make one per object: 200 bytes each, 430 MB at a
# million targets. The sets are never changed: every field they name is set.
_LIGAND_FIELDS = {"index", "ligand_id", "name"}
# The MSA identity of a server MSA not fetched yet, followed by its query id: keys made with it
# are no entry's (their targets count as not stored until the MSA is there).
UNFETCHED_MSA = "server-msa-not-fetched:"


def shard_name(number: int, replicate: int) -> str:
    return f"{number:05d}" if replicate == 0 else f"{number:05d}-r{replicate}"


def binder_msa_batch(shard: str) -> str:
    """The batch of a shard's binders' server MSAs: its number (`00001` of `00001-r2`), which
    every protein's and every replicate's shard of the same binders has."""
    return shard.split("-")[0]


def server_msa_id(protein: Protein, config: ScreenConfig) -> str | None:
    """The result store's address of the receptor's server MSA (None without `msa: server`
    chains)."""
    chains = protein.receptor.server_chains()
    if not chains:
        return None
    runtime = config.runtime
    return keys.server_msa_id(
        list(chains.values()), runtime.msa_server_url, runtime.msa_pairing_strategy
    )


def screen_msa_record(
    config: ScreenConfig, protein: Protein, results_root: str | Path, *, fetching_anew: bool
) -> StoredServerMsa | None:
    """The server MSA this screen's fetch_msa job wrote for `protein` (its files and record),
    if it answers the current query (sequences, server, pairing) and stays in use: not when
    this run fetches anew, unless that record was itself fetched with runtime.msa_refresh
    (then the job does not run again: Snakemake reruns it when the switch changes)."""
    layout = ScreenLayout.of(results_root, config.screen.name)
    if not layout.msa(protein.name).is_dir():
        return None
    record = recorded_server_msa(layout.msa_record(protein.name), server_msa_id(protein, config))
    if record is None or (fetching_anew and not record.record.get("msa_refresh")):
        return None
    return record


def chain_msa_identities(protein: Protein, server: StoredServerMsa | None) -> dict[str, str] | None:
    """Each protein chain entry's first id -> what its MSA is: 'single-sequence', or the
    format and sha256 of the MSA file (the user's, or the server's from `server`); None when
    the receptor has `server` chains and `server` is not known yet."""
    receptor = protein.receptor
    server_chains = list(receptor.server_chains())
    if server_chains and server is None:
        return None
    identities = {}
    for chain in receptor.msa_chains:
        first = chain.ids[0]
        if chain.msa == "empty":
            identities[first] = SINGLE_SEQUENCE
        elif chain.msa == "server":
            identities[first] = server.identity(server_chains.index(first))
        else:
            identities[first] = keys.msa_file_identity(chain.msa, Path(chain.msa).read_bytes())
    return identities


def msa_identities(
    config: ScreenConfig,
    store: ResultStore,
    *,
    fetching_anew: bool = False,
    results_root: str | Path = RESULTS,
) -> dict[str, dict[str, str] | None]:
    """protein -> its chains' MSA identities (`chain_msa_identities`); None for a receptor
    whose server MSA is not fetched yet, or about to be fetched anew (`fetching_anew`:
    runtime.msa_refresh in the process that plans a run).

    A server MSA is the one the screen's own fetch_msa job recorded (it stays this screen's
    even when another screen refreshes the store's copy), else the store's for its query."""
    identities: dict[str, dict[str, str] | None] = {}
    for protein in config.proteins:
        fetched = None
        if protein.receptor.server_chains():
            fetched = screen_msa_record(config, protein, results_root, fetching_anew=fetching_anew)
            if fetched is None and not fetching_anew:
                fetched = stored_server_msa(store, server_msa_id(protein, config))
        identities[protein.name] = chain_msa_identities(protein, fetched)
    return identities


def binder_msa_sha256s(
    config: ScreenConfig,
    store: ResultStore,
    batch: str,
    queries: Iterable[str],
    *,
    results_root: str | Path = RESULTS,
    fetching_anew: bool = False,
) -> dict[str, str]:
    """query id -> sha256 of the server MSAs of a batch's binders (`queries`) known at
    planning, as the receptor's are (`msa_identities`): the one the screen's own
    fetch_binder_msas job recorded for the batch, else the store's for the query; none that
    this run fetches anew (runtime.msa_refresh)."""
    record = ScreenLayout.of(results_root, config.screen.name).binder_msa_record(batch)
    known = recorded_binder_msas(record, fetching_anew=fetching_anew)
    if fetching_anew:
        return known
    missing = [query for query in queries if query not in known]
    # One read per binder sequence (a request each in a bucket): in parallel.
    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        found = pool.map(lambda query: stored_server_msa(store, query), missing)
        for query, stored in zip(missing, found, strict=True):
            if stored is not None and len(stored.chain_sha256) == 1:
                known[query] = stored.chain_sha256[0]
    return known


def _cached_sheet(store: ResultStore, name: str) -> pd.DataFrame | None:
    """The validated sheet the store keeps as `name`, checked against its seal and parsed;
    None when there is none to serve (absent, cached before sheets were sealed, or damaged:
    then reported and moved aside, `ResultStore.read_parsed`)."""
    identity = object_at(name)
    if identity is None or identity[0] != SHEET_OBJECT:
        return None  # (the unsealed `.tsv` caches of earlier versions are not read)
    return store.read_parsed(*identity, _sheet_table)


def _sheet_table(content: dict) -> pd.DataFrame:
    """The sheet's table as written (`_store_sheet`): the integer columns as numbers, every
    other column as text, an empty field as ''. Parsed by Arrow straight into the table's
    text columns: no Python string per cell (at a million rows, several million strings
    whose freed memory stayed with the process)."""
    # As UTF-8 bytes: an io.StringIO holds 4 bytes per character (800 MB more at a million
    # rows).
    text = io.BytesIO(content.pop(SHEET_TABLE).encode())
    header = io.TextIOWrapper(text, encoding="utf-8", newline="")
    names = next(csv.reader(header, delimiter="\t"), [])
    header.detach()  # (closing the wrapper would close `text`)
    text.seek(0)
    missing = [name for name in _INTEGER_COLUMNS if name not in names]
    if missing:
        raise KeyError(f"the validated sheet has no column {missing[0]!r}")
    table = pa_csv.read_csv(
        text,
        parse_options=pa_csv.ParseOptions(delimiter="\t", newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={
                name: pa.int64() if name in _INTEGER_COLUMNS else pa.large_string()
                for name in names
            },
            strings_can_be_null=False,
        ),
    )
    return pd.DataFrame(
        {
            name: column.to_numpy()
            if name in _INTEGER_COLUMNS
            else pd.Series(column, dtype=TEXT_DTYPE)
            for name, column in zip(table.column_names, table.columns, strict=True)
        },
        copy=False,
    )


def load_validated_sheet(
    path: str,
    name: str,
    *,
    affinity: bool,
    salts: str,
    store: ResultStore,
    mols_dir: Path,
) -> pd.DataFrame:
    """The validated sheet, from the store's cache when this exact file was validated before.

    Validation of 100,000 SMILES takes tens of seconds, so the result is kept in the store
    under `name` (`sheet_name`); aggregation and progress read it from there by the name
    the plan records (`read_validated_sheet`) and never need the file. A sheet not validated
    before validates only its SMILES that no earlier sheet had (omtx_hub.validated_molecules).
    """
    cached = _cached_sheet(store, name)
    if cached is not None:
        return cached
    # A new sheet validates only the SMILES no earlier sheet had.
    molecules = ValidatedMolecules(store, affinity=affinity, salts=salts)
    validated = validate_sheet(
        path,
        affinity=affinity,
        salts=salts,
        ccd_molecules=ccd_lookup(mols_dir),
        prepare=molecules.prepare,
    )
    log.info(
        "ligand sheet %s validated: %d SMILES validated before, %d now",
        path,
        molecules.reused,
        molecules.validated,
    )
    # Every text cell quoted: an unquoted carriage return in a cell of the sheet's own
    # columns would end the row when the cache is read back.
    # Written as UTF-8 bytes, then decoded: pandas writes a string through an io.StringIO,
    # which holds 4 bytes per character (800 MB more at a million rows).
    table = io.BytesIO()
    validated.to_csv(table, sep="\t", index=False, quoting=csv.QUOTE_NONNUMERIC, encoding="utf-8")
    text = table.getvalue().decode()
    del table
    store.write_object(SHEET_OBJECT, object_at(name)[1], {SHEET_TABLE: text})
    return validated


def read_validated_sheet(name: str, store: ResultStore) -> pd.DataFrame:
    """The validated sheet the planning process kept in the store as `name`."""
    cached = _cached_sheet(store, name)
    if cached is None:
        raise ConfigError(
            f"the validated ligand sheet '{name}' is not in the result store {store.location} "
            "(or not as it was stored: a damaged one is moved to its quarantine/); the process "
            "that planned this run stored it there before any job ran. Run the screen again "
            "to plan it anew."
        )
    return cached


def sheet_name(path: str | Path, *, affinity: bool, salts: str, mols_dir: Path) -> str:
    """Where the store keeps the validated sheet of the file at `path` (omtx_hub.keys)."""
    try:
        digest = sha256_file(path)
    except OSError as error:  # hashing reads every byte: what it reads, validation can
        raise SheetError(f"ligand sheet '{path}' cannot be read: {error}") from None
    key = keys.sheet_key(
        digest, affinity=affinity, salts=salts, molecules_checked=mols_dir.is_dir()
    )
    return sheet_path(key)


def _check_cofactors_are_not_screened(config: ScreenConfig, screened: Container[str]) -> None:
    """Boltz makes one entity of identical SMILES (or CCD codes), and refuses affinity for an
    entity with several copies ("Cannot compute affinity for a ligand that has multiple
    copies!"). `screened`: the sheet's molecule identities."""
    problems = [
        f"config key 'proteins[{i}].cofactors[{j}].{'ccd' if cofactor.ccd else 'smiles'}': "
        f"{cofactor.label} is also a ligand of the sheet; Boltz cannot model it both as "
        "cofactor and as the screened ligand: remove it from one of them"
        for i, protein in enumerate(config.proteins)
        for j, cofactor in enumerate(protein.cofactors)
        if (CCD_IDENTITY_PREFIX + cofactor.ccd if cofactor.ccd else cofactor.smiles) in screened
    ]
    if problems:
        raise ConfigError("Invalid screen configuration:\n  - " + "\n  - ".join(problems))


def check_covalent_rows(config: ScreenConfig, ligands: pd.DataFrame) -> None:
    """Every row of a covalent screen has one reacting atom for each covalent receptor
    (omtx_hub.warheads.row_problems); SheetError naming each line that has not."""
    codes = ligands["ccd"].fillna("") if "ccd" in ligands.columns else [""] * len(ligands)
    problems = [
        f"ligand sheet '{config.ligands.sheet}' line {line}: protein '{protein.name}' is a "
        f"covalent screen ({protein.covalent.warhead}): {message}"
        for protein in config.proteins
        if protein.covalent is not None
        for line, message in warheads.row_problems(
            zip(ligands["line"], ligands["modeled_smiles"], codes, strict=True),
            protein.covalent.warhead,
            affinity=config.model.affinity,
        )
    ]
    if problems:
        raise SheetError("\n".join(problems))


def check_panel_scores(config: ScreenConfig, ligands: pd.DataFrame) -> None:
    """A selectivity panel compares a molecule screen's binder probability and pIC50, which
    need model.affinity: true; a binder-sequence screen's binder_iptm (omtx_hub.selectivity)."""
    if config.selectivity is None or config.model.affinity or is_binder_sheet(ligands.columns):
        return
    raise invalid_config(
        [
            keyed_message(
                "selectivity",
                "a panel of molecules compares binder probability and pIC50, which need "
                "model.affinity: true (a binder-sequence screen's compares binder_iptm)",
            )
        ]
    )


def check_chai1_rows(config: ScreenConfig, ligands: pd.DataFrame) -> None:
    """Chai-1 screens molecules by SMILES (omtx_hub.chai1): where a protein runs Chai-1, a
    binder-sequence sheet or a row by CCD code is refused, naming the sheet's line (and, in a
    screen of two engines, the protein)."""
    chai1_proteins = [p.name for p in config.proteins if config.engine_of(p) == "chai1"]
    if not chai1_proteins:
        return
    sheet = config.ligands.sheet
    # A screen of Chai-1 alone is `model.engine: chai1`; one of both engines names the protein.
    runs = (
        "model.engine: chai1"
        if config.engines == {"chai1"}
        else f"protein '{chai1_proteins[0]}' runs Chai-1"
    )
    if is_binder_sheet(ligands.columns):
        raise SheetError(
            f"ligand sheet '{sheet}': binder-sequence screens run on Boltz-2 only ({runs}); "
            "a Chai-1 screen's sheet gives a `smiles` per row"
        )
    if "ccd" in ligands.columns:
        by_code = ligands["line"][ligands["ccd"].fillna("") != ""]
        if len(by_code):
            raise SheetError(
                f"ligand sheet '{sheet}' line {by_code.iloc[0]}: a Chai-1 screen takes molecules "
                f"by SMILES ({runs}); give this row's `smiles` instead of its `ccd` code"
            )


def check_binder_rows(config: ScreenConfig, ligands: pd.DataFrame) -> None:
    """A binder screen's rows against its receptors: no covalent site nor ligand copies (a
    binder is one chain, bonded by no warhead), no triage rules (they judge molecules), each
    binder's residues plus each receptor's within limits.protein_max_residues
    (omtx_hub.binders: Boltz sets no token limit, the GPU's memory does), and no binder a
    receptor chain's type and sequence. SheetError naming each line that does not fit."""
    if not is_binder_sheet(ligands.columns):
        return
    problems = [
        f"config key 'proteins[{i}].{what}': a binder-sequence screen screens one chain per "
        f"target; remove {what} from protein '{protein.name}'"
        for i, protein in enumerate(config.proteins)
        for what, given in (
            ("covalent", protein.covalent is not None),
            ("ligand_copies", protein.ligand_copies > 1),
        )
        if given
    ]
    if config.triage is not None:
        problems.append(
            "config key 'triage': its rules judge small molecules (structural alerts, "
            "properties, PoseBusters, ligand interactions), which a binder-sequence screen "
            "has not; remove the block (binders are ranked by binder_iptm)"
        )
    if problems:
        raise ConfigError("Invalid screen configuration:\n  - " + "\n  - ".join(problems))
    limit = config.limits.protein_max_residues
    problems = [
        f"ligand sheet '{config.ligands.sheet}' line {line}: the binder's {len(sequence):,} "
        f"residues with protein '{protein.name}' ({protein.receptor.residue_count:,}) are "
        f"more than limits.protein_max_residues ({limit:,}): Boltz-2's GPU memory grows with "
        "the square of the tokens; shorten the binder or raise the limit if the GPU has it"
        for protein in config.proteins
        for line, sequence in zip(ligands["line"], ligands["sequence"], strict=True)
        if protein.receptor.residue_count + len(sequence) > limit
    ]
    # Boltz makes one entity of chains with one type and sequence, with the first entry's
    # MSA, `cyclic` and modifications (parse_boltz_schema; it refuses two MSAs): a binder
    # identical to a receptor chain would silently be another copy of it.
    problems += [
        f"ligand sheet '{config.ligands.sheet}' line {line}: the binder is chain "
        f"{chain.ids[0]} of protein '{protein.name}' ({kind}, the same sequence): Boltz would "
        "model it as another copy of that chain, with its MSA, cyclic and modifications; "
        "screen it as a receptor chain with `copies` instead"
        for protein in config.proteins
        for chain in protein.receptor.chains
        for line, sequence, kind in zip(
            ligands["line"], ligands["sequence"], ligands["chain_type"], strict=True
        )
        if (chain.type, chain.sequence) == (kind, sequence)
    ]
    if problems:
        raise SheetError("\n".join(problems))


def binder_identities(ligands: pd.DataFrame, runtime: Runtime) -> tuple[list[str], list[Binder]]:
    """A validated binder sheet's rows: each one's identity (keys.binder_identity, its MSA
    file read for its content) and its binder, with that MSA identity. A binder with
    `msa: server` is keyed with UNFETCHED_MSA and its query id (omtx_hub.msa_server.
    binder_query_id) until its MSA is known (`_Molecules.use_server_msas`). SheetError naming
    the line of an MSA file that cannot be read, or that Boltz would not use for the binder's
    sequence (it would predict single-sequence without a word:
    omtx_hub.msa_files.query_mismatch)."""
    binders = binders_of(ligands)
    read: dict[str, str] = {}
    identities, keyed, problems = [], [], []
    for line, binder in zip(ligands["line"], binders, strict=True):
        if binder.msa is None or binder.msa == "empty":
            msa = None if binder.msa is None else SINGLE_SEQUENCE
        elif binder.msa == "server":
            identities.append(
                keys.binder_identity(
                    binder, UNFETCHED_MSA + binder_query_id(binder.sequence, runtime)
                )
            )
            keyed.append(binder)
            continue
        elif binder.msa in read:
            msa = read[binder.msa]
        else:
            try:
                msa = read[binder.msa] = keys.msa_file_identity(
                    binder.msa, Path(binder.msa).read_bytes()
                )
            except OSError as error:
                problems.append(f"line {line}: column 'msa': {binder.msa} cannot be read: {error}")
                continue
        if binder.msa not in (None, "empty") and (
            mismatch := query_mismatch(binder.msa, binder.sequence)
        ):
            problems.append(
                f"line {line}: column 'msa': {binder.msa} is not an alignment of the binder's "
                f"sequence ({mismatch}); Boltz would ignore it and predict single-sequence"
            )
            continue
        identities.append(keys.binder_identity(binder, msa))
        keyed.append(binder.model_copy(update={"msa_identity": msa}))
    if problems:
        raise SheetError("binder sheet: " + "; ".join(problems))
    return identities, keyed


# The validated sheet's columns a target's `ligands` (and a CCD row's SMILES) are made from.
_SHEET_ROW_COLUMNS = ("index", "ligand_id", "name", "modeled_smiles")


class _Molecules:
    """The sheet's distinct molecules, in sheet order, in columns. One target per molecule
    Boltz models: rows with the same modelled SMILES share it (e.g. 'OCC' and 'CCO', or a salt
    and its free base), rows of one CCD code too, and binder rows of one chain
    (`binder_identities`). A molecule's sheet rows (its targets' `ligands`) are read from the
    validated sheet only while its shard's spec is made, so that a plan does not hold one
    `Ligand` object per row of the sheet."""

    def __init__(self, ligands: pd.DataFrame, runtime: Runtime):
        binders: list[Binder] | None = None
        if is_binder_sheet(ligands.columns):
            identities, binders = binder_identities(ligands, runtime)
            codes, self.identities = pd.factorize(pd.Series(identities, dtype=object), sort=False)
        else:
            codes, self.identities = pd.factorize(molecule_identities(ligands), sort=False)
        # The sheet's rows by molecule, each molecule's in sheet order: the rows of molecule m
        # are columns[...][bounds[m]:bounds[m + 1]], so a shard's rows are one slice of each
        # column. (A `take` per shard instead costs O(rows of the sheet) each time on an Arrow
        # array of several chunks, as pyarrow 25's read of the validated sheet makes them.)
        order = np.argsort(codes, kind="stable")
        in_sheet_order = bool(np.array_equal(order, np.arange(len(order))))
        self.columns = {
            column: ligands[column].array if in_sheet_order else ligands[column].array.take(order)
            for column in _SHEET_ROW_COLUMNS
        }
        self.bounds = np.searchsorted(codes[order], np.arange(len(self.identities) + 1))
        # A binder screen's binder per molecule, its first row's (one identity is one chain
        # Boltz models); None for a molecule screen, which holds no object per molecule.
        self.binders = (
            None if binders is None else [binders[row] for row in order[self.bounds[:-1]].tolist()]
        )
        # The query id of each `msa: server` binder (None for the others), and the molecules
        # whose server MSA is not known yet (keyed with UNFETCHED_MSA).
        self.server_queries = [
            binder_query_id(binder.sequence, runtime) if binder.msa == "server" else None
            for binder in self.binders or []
        ]
        self.unfetched = {m for m, query in enumerate(self.server_queries) if query is not None}

    def server_binders(self, start: int, stop: int) -> dict[str, tuple[str, str]]:
        """query id -> (sequence, whose MSA it is, for messages) of the `msa: server` binders
        among molecules `start` to `stop`, in order."""
        names = self.columns["name"]
        return {
            query: (self.binders[m].sequence, f"binder '{names[self.bounds[m]]}'")
            for m, query in enumerate(self.server_queries[start:stop], start)
            if query is not None
        }

    def use_server_msas(self, start: int, stop: int, sha256s: Mapping[str, str]) -> None:
        """Key the `msa: server` binders among molecules `start` to `stop` whose query
        `sha256s` names (query id -> the MSA's sha256) with that MSA, as a csv file of the same
        bytes would be (keys.server_msa_identity). One identity per placeholder: the molecules
        stay as they were factorized."""
        identities = None
        for m, query in enumerate(self.server_queries[start:stop], start):
            if query is None or query not in sha256s:
                continue
            if identities is None:
                identities = self.identities.tolist()
            msa = keys.server_msa_identity(sha256s[query])
            self.binders[m] = self.binders[m].model_copy(update={"msa_identity": msa})
            identities[m] = keys.binder_identity(self.binders[m], msa)
            self.unfetched.discard(m)
        if identities is not None:
            self.identities = pd.Index(identities, dtype=object)

    def __len__(self) -> int:
        return len(self.identities)

    def each_identity(self, chunk: int = 10_000):
        """Every molecule's identity, in order (taken out of Arrow a chunk at a time: one by
        one is several times slower, and all at once holds them all as Python strings)."""
        for start in range(0, len(self.identities), chunk):
            yield from self.identities[start : start + chunk].tolist()

    def of(
        self, start: int, stop: int
    ) -> list[tuple[str | None, str | None, Binder | None, list[Ligand]]]:
        """(smiles, ccd code, binder, sheet rows) of molecules `start` to `stop`. A CCD row's
        `smiles` is its cache molecule's (None when the cache was not there); a binder's
        molecule has neither."""
        bounds = self.bounds[start : stop + 1].tolist()
        first, last = bounds[0], bounds[-1]
        # Column by column, sliced from the columns' arrays: a frame's rows (or its Arrow-backed
        # strings) one by one, or `.iloc`, cost several times as much.
        columns = [self.columns[column][first:last].tolist() for column in _SHEET_ROW_COLUMNS]
        sheet_rows = [
            Ligand.model_construct(_LIGAND_FIELDS, index=int(index), ligand_id=ligand_id, name=name)
            for index, ligand_id, name, _ in zip(*columns, strict=True)
        ]
        molecules = []
        identities = self.identities[start:stop].tolist()
        for m, identity in enumerate(identities):
            begin, end = bounds[m] - first, bounds[m + 1] - first
            binder = None if self.binders is None else self.binders[start + m]
            if binder is not None:
                smiles, code = None, None
            elif identity.startswith(CCD_IDENTITY_PREFIX):
                smiles, code = columns[3][begin] or None, identity[len(CCD_IDENTITY_PREFIX) :]
            else:
                smiles, code = identity, None
            molecules.append((smiles, code, binder, sheet_rows[begin:end]))
        return molecules


@dataclass(frozen=True)
class _ProteinTargets:
    """The targets of one protein (and replicate) in columns: the sheet's molecules in order
    and each one's key. Its `Target` objects are made only while a shard's spec is asked for
    (`_ShardSpecs`), so that a plan of a million targets does not hold a million of them."""

    protein: str
    # Which of `model.replicates` (None without replicates: their targets have no number).
    replicate: int | None
    molecules: _Molecules
    keys: list[str]

    def targets(self, start: int, stop: int) -> list[Target]:
        numbered = {} if self.replicate is None else {"replicate": self.replicate}
        fields = {"key", "protein", "smiles", "ligands", *numbered}
        with_ccd, with_binder = {*fields, "ccd"}, {*fields, "binder"}
        return [
            Target.model_construct(
                with_ccd if ccd else with_binder if binder else fields,
                key=key,
                protein=self.protein,
                smiles=smiles,
                **({"ccd": ccd} if ccd else {}),
                **({"binder": binder} if binder else {}),
                ligands=ligands,
                **numbered,
            )
            for (smiles, ccd, binder, ligands), key in zip(
                self.molecules.of(start, stop), self.keys[start:stop], strict=True
            )
        ]


@dataclass(frozen=True)
class _PlannedShard:
    """A shard as planned: its spec's fields but the targets, which are `targets`' from
    `start` to `stop`."""

    fields: dict
    targets: _ProteinTargets
    start: int
    stop: int

    @property
    def keys(self) -> list[str]:
        return self.targets.keys[self.start : self.stop]

    def spec(self) -> ShardSpec:
        targets = self.targets.targets(self.start, self.stop)
        return ShardSpec.model_construct(**self.fields, targets=targets)


class _ShardSpecs(Mapping[tuple[str, str], ShardSpec]):
    """(protein, shard) -> its spec, in plan order, each made when it is asked for."""

    def __init__(self):
        self.planned: dict[tuple[str, str], _PlannedShard] = {}

    def __getitem__(self, name: tuple[str, str]) -> ShardSpec:
        return self.planned[name].spec()

    def __contains__(self, name: object) -> bool:
        return name in self.planned

    def __iter__(self):
        return iter(self.planned)

    def __len__(self) -> int:
        return len(self.planned)


class Plan:
    """The targets and shards of a screen, as the planning process makes them."""

    def __init__(
        self,
        config: ScreenConfig,
        ligands: pd.DataFrame,
        sheet: str,
        weights: Mapping[str, Weights],
        msa_identities: dict[str, dict[str, str] | None],
        known_binder_msas: Callable[[str, Iterable[str]], Mapping[str, str]] | None = None,
    ):
        """`weights`: each engine of the screen (`config.engines`) -> its weights
        (`engine_weights`). `known_binder_msas`: (batch, its binders' query ids) -> query id
        -> sha256 of the server MSAs of a binder screen's binders known at planning
        (`binder_msa_sha256s`)."""
        self.config = config
        self.ligands = ligands
        # The name of the validated sheet in the result store.
        self.sheet = sheet
        self.engine_weights = dict(weights)
        self.weights = self.engine_weights[main_engine(config)]
        self.seeds = keys.replicate_seeds(config.model)
        # Per engine, one prediction spec per replicate (its seed): every protein of an engine
        # has its keys made with them. Replicate 0's of the main engine is the screen's `spec`.
        self.specs = {
            engine: [
                keys.prediction_spec(config, engine, weights[engine], r)
                for r in range(config.model.replicates)
            ]
            for engine in config.engines
        }
        self.spec = self.specs[main_engine(config)][0]
        self.spec_digests = {
            engine: [keys.spec_digest(spec) for spec in specs]
            for engine, specs in self.specs.items()
        }
        # The server MSAs not known yet (None) are known once fetch_msa has run
        # (`use_fetched_msa`).
        self.msa_identities = dict(msa_identities)
        self.server_msa_ids = {p.name: server_msa_id(p, config) for p in config.proteins}
        self._msa_fetched: set[str] = set()
        self._molecules = _Molecules(ligands, config.runtime)
        _check_cofactors_are_not_screened(config, self._molecules.identities)
        check_covalent_rows(config, ligands)
        check_binder_rows(config, ligands)
        check_panel_scores(config, ligands)
        check_chai1_rows(config, ligands)
        # batch (a shard number, `binder_msa_batch`) -> query id -> (sequence, whose MSA it
        # is) of its `msa: server` binders: what its fetch_binder_msas job asks for. Only the
        # batches that have such binders.
        self.binder_msa_batches = self._server_binders_by_batch()
        if known_binder_msas is not None:
            for batch, binders in self.binder_msa_batches.items():
                start, stop = self._batch_range(batch)
                self._molecules.use_server_msas(start, stop, known_binder_msas(batch, binders))
        self.shards = _ShardSpecs()
        for protein in config.proteins:
            self._plan_shards(protein)

    def _plan_shards(self, protein: Protein) -> None:
        identities = self.msa_identities[protein.name]
        if identities is None:
            # Keys that no entry can have: the targets count as not stored until the MSA is
            # there and `use_fetched_msa` gives them their keys.
            pending = UNFETCHED_MSA + self.server_msa_ids[protein.name]
            identities = {chain.ids[0]: pending for chain in protein.receptor.msa_chains}
        receptor = protein.receptor
        templates = [sha256_file(template.cif) for template in receptor.templates]
        receptor_digest = keys.receptor_digest(receptor, identities, templates)
        size = self.config.sharding.shard_size
        molecules = self._molecules
        with_replicates = len(self.seeds) > 1
        engine = self.config.engine_of(protein)
        for replicate, (spec, spec_digest) in enumerate(
            zip(self.specs[engine], self.spec_digests[engine], strict=True)
        ):
            targets = _ProteinTargets(
                protein.name,
                replicate if with_replicates else None,
                molecules,
                [
                    keys.target_key(spec_digest, receptor_digest, identity)
                    for identity in molecules.each_identity()
                ],
            )
            for start in range(0, len(molecules), size):
                name = shard_name(start // size, replicate)
                self.shards.planned[(protein.name, name)] = _PlannedShard(
                    dict(
                        screen=self.screen,
                        protein=protein.name,
                        shard=name,
                        replicate=replicate,
                        prediction=spec,
                        weights=self.engine_weights[engine],
                        msa_identities=identities,
                    ),
                    targets,
                    start,
                    min(start + size, len(molecules)),
                )

    @property
    def pending_msas(self) -> list[str]:
        """The proteins whose server MSA is not known yet (their keys with it)."""
        return [name for name, identity in self.msa_identities.items() if identity is None]

    def use_fetched_msa(
        self, protein: str, store: ResultStore, results_root: str | Path = RESULTS
    ) -> dict[str, str]:
        """Once the fetch_msa job of `protein` has run: its chains' MSA identities (from the
        job's record, else the store), and the keys of the protein's targets made with them."""
        if protein in self._msa_fetched:
            return self.msa_identities[protein]
        entry = self.config.protein(protein)
        fetched = screen_msa_record(
            self.config, entry, results_root, fetching_anew=False
        ) or stored_server_msa(store, self.server_msa_ids[protein])
        if fetched is None:
            raise ConfigError(
                f"the server MSA of protein '{protein}' is neither recorded by this screen nor "
                f"in the result store {store.location}, though its fetch_msa job finished: was "
                "the store emptied while the run went on?"
            )
        self._msa_fetched.add(protein)
        identities = chain_msa_identities(entry, fetched)
        if identities != self.msa_identities[protein]:
            self.msa_identities[protein] = identities
            self._plan_shards(entry)
        return self.msa_identities[protein]

    def _batch_range(self, batch: str) -> tuple[int, int]:
        """The molecules of the shards numbered `batch` (every protein's, every replicate's)."""
        size = self.config.sharding.shard_size
        start = int(batch) * size
        return start, min(start + size, len(self._molecules))

    def _server_binders_by_batch(self) -> dict[str, dict[str, tuple[str, str]]]:
        size = self.config.sharding.shard_size
        batches = {}
        for start in range(0, len(self._molecules), size):
            binders = self._molecules.server_binders(start, start + size)
            if binders:
                batches[shard_name(start // size, 0)] = binders
        return batches

    @property
    def pending_binder_msas(self) -> list[str]:
        """The batches (`binder_msa_batch`) with a binder whose server MSA is not known yet
        (their targets' keys with it)."""
        size = self.config.sharding.shard_size
        return sorted({shard_name(m // size, 0) for m in self._molecules.unfetched})

    def use_fetched_binder_msas(
        self, batch: str, store: ResultStore, results_root: str | Path = RESULTS
    ) -> None:
        """Once the fetch_binder_msas job of `batch` has run: key its binders with their MSAs
        (from the job's record, else the store: `binder_msa_sha256s`), and the targets of
        every protein with them."""
        start, stop = self._batch_range(batch)
        binders = self._molecules.server_binders(start, stop)
        known = binder_msa_sha256s(self.config, store, batch, binders, results_root=results_root)
        self._molecules.use_server_msas(start, stop, known)
        missing = [query for query in binders if query not in known]
        if missing:
            raise ConfigError(
                f"the server MSA of {binders[missing[0]][1]} (and {len(missing) - 1} more of "
                f"batch {batch}) is neither recorded by this screen nor in the result store "
                f"{store.location}, though its fetch_binder_msas job finished: was the store "
                "emptied while the run went on?"
            )
        for protein in self.config.proteins:
            self._plan_shards(protein)

    def binder_msa_files(self, shard: tuple[str, str] | None = None) -> list[str]:
        """The user MSA files of a binder screen's binders (of one (protein, shard) only):
        the shard jobs read them as the receptor's (`ReceptorSpec.local_files`), so remote
        jobs need them among the shipped sources."""
        binders = self._molecules.binders or []
        if shard is not None:
            planned = self.shards.planned[shard]
            binders = binders[planned.start : planned.stop]
        return sorted(
            {binder.msa for binder in binders if binder.msa not in (None, "empty", "server")}
        )

    @property
    def screen(self) -> str:
        return self.config.screen.name

    def protein(self, name: str) -> Protein:
        return self.config.protein(name)

    def shard(self, protein: str, name: str) -> ShardSpec:
        return self.shards[(protein, name)]

    @property
    def target_count(self) -> int:
        return sum(shard.stop - shard.start for shard in self.shards.planned.values())

    def targets(self):
        """Every target of the plan, shard by shard."""
        for shard in self.shards.values():
            yield from shard.targets

    def keys(self):
        """Every target's key, shard by shard (from the key columns: no target is made)."""
        for shard in self.shards.planned.values():
            yield from shard.keys

    def shard_keys(self, protein: str, name: str) -> list[str]:
        """The keys of a shard's targets, in its spec's order (from the key columns: no
        target is made)."""
        return self.shards.planned[(protein, name)].keys

    def stored_keys(self, store: ResultStore) -> frozenset[str]:
        """The keys of this plan's targets that `store` already has."""
        return store.stored(self.keys())

    def stored_shards(self, stored_keys: frozenset[str]) -> list[tuple[str, str]]:
        """(protein, shard) of every shard whose targets are all in `stored_keys`."""
        return [
            name
            for name, shard in self.shards.planned.items()
            if all(key in stored_keys for key in shard.keys)
        ]

    def _index(self, spec_sha256s: dict[tuple[str, str], str]) -> bytes:
        """The plan's index, with the sha256 of each shard's spec (`spec_sha256s`); a shard of
        a protein whose server MSA is not fetched yet has no spec (and no sha256) until it is."""
        index = ScreenPlan(
            version=PLAN_VERSION,
            screen=self.screen,
            sheet=self.sheet,
            seeds=self.seeds,
            weights=self.weights,
            **({"engine_weights": self.engine_weights} if len(self.engine_weights) > 1 else {}),
            proteins={
                name: PlannedProtein(
                    msa_identities=self.msa_identities[name],
                    server_msa_id=self.server_msa_ids[name],
                )
                for name in self.msa_identities
            },
            shards=[
                PlannedShard(
                    protein=protein,
                    shard=name,
                    replicate=shard.fields["replicate"],
                    targets=shard.stop - shard.start,
                    sha256=spec_sha256s.get((protein, name)),
                )
                for (protein, name), shard in self.shards.planned.items()
            ],
        )
        return index_bytes(index)

    def write(self, results: ResultStore) -> list[str]:
        """Write the plan's files (omtx_hub.plan_artifact) under `results` (the directory
        snakemake runs in, or the run's default storage): only those whose content changed,
        each shard's spec first and the index last (so that a reader finds every spec it
        names). The names written.

        The specs are made, compared and written one by one, so that the plan of a million
        targets is never in memory as objects or bytes all at once."""
        index_name = plan_path(self.screen)
        existing = results.blob_md5s(str(Path(index_name).parent) + "/")
        pending, pending_binders = set(self.pending_msas), set(self.pending_binder_msas)
        sha256s: dict[tuple[str, str], str] = {}
        written: list[str] = []
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            writing = []
            for name, shard in self.shards.planned.items():
                if name[0] in pending or binder_msa_batch(name[1]) in pending_binders:
                    continue
                data = spec_bytes(shard.spec())
                sha256s[name] = sha256_bytes(data)
                path = shard_spec_path(self.screen, *name)
                if changed_files({path: data}, existing):
                    written.append(path)
                    writing.append(pool.submit(results.write_blob, path, data))
                if len(writing) >= 4 * LOOKUP_THREADS:  # (their bytes are held until written)
                    for future in writing:
                        future.result()
                    writing = []
            for future in writing:
                future.result()
        index = self._index(sha256s)
        if changed_files({index_name: index}, existing):
            results.write_blob(index_name, index)
            written.append(index_name)
        return written


def main_engine(config: ScreenConfig) -> str:
    """The engine whose weights the plan's index and summary.json name first: `model.engine`,
    unless every protein runs the other."""
    engines = config.engines
    return config.model.engine if config.model.engine in engines else next(iter(engines))


def engine_weights(config: ScreenConfig) -> dict[str, Weights]:
    """The weights of each engine the screen runs, as its keys name them: Boltz-2's checkpoints
    (omtx_hub.weights.weights_in_use), Chai-1's components (omtx_hub.chai1.chai1_weights)."""
    return {
        engine: (
            chai1_weights(config.runtime, config.model)
            if engine == "chai1"
            else weights_in_use(config.runtime, affinity=config.model.affinity)
        )
        for engine in sorted(config.engines)
    }


def build_plan(
    config: ScreenConfig,
    store: ResultStore,
    *,
    fetching_msas_anew: bool = False,
    results_root: str | Path = RESULTS,
) -> Plan:
    """The plan of `config`, after the checks of the files it names (omtx_hub.preflight).
    `fetching_msas_anew`: this process plans a run that asks the MSA server again
    (runtime.msa_refresh), so the store's server MSAs are not the ones its targets will use."""
    check_files(config)
    store.check_writable()  # before the sheet is validated: its cache is written there
    affinity, sheet, salts = config.model.affinity, config.ligands.sheet, config.ligands.salts
    mols_dir = config.runtime.molecule_cache
    check_sheet_size(sheet, config.limits.sheet_max_bytes)  # before it is hashed
    name = sheet_name(sheet, affinity=affinity, salts=salts, mols_dir=mols_dir)
    ligands = load_validated_sheet(
        sheet, name, affinity=affinity, salts=salts, store=store, mols_dir=mols_dir
    )
    weights = engine_weights(config)
    identities = msa_identities(
        config, store, fetching_anew=fetching_msas_anew, results_root=results_root
    )

    def known_binder_msas(batch: str, queries: Iterable[str]) -> dict[str, str]:
        return binder_msa_sha256s(
            config,
            store,
            batch,
            queries,
            results_root=results_root,
            fetching_anew=fetching_msas_anew,
        )

    return Plan(config, ligands, name, weights, identities, known_binder_msas)


@dataclass(frozen=True)
class PlannedScreen:
    """A planned screen read back from its plan (aggregation, progress): the attributes of a
    `Plan`, from the plan's index, the validated sheet it names, the config and, where read
    (`from_results`), every shard's spec. Nothing is planned again."""

    config: ScreenConfig
    plan: ScreenPlan
    ligands: pd.DataFrame
    # (protein, shard) -> spec; a shard whose protein's server MSA was not fetched yet has none.
    shards: dict[tuple[str, str], ShardSpec] = field(default_factory=dict)

    @classmethod
    def read(cls, config: ScreenConfig, plan: str | Path, store: ResultStore) -> PlannedScreen:
        """The screen of the plan's index at `plan` (a local file), without its specs."""
        index = read_plan(plan)
        return cls(config, index, read_validated_sheet(index.sheet, store))

    @classmethod
    def from_results(
        cls, config: ScreenConfig, results: ResultStore, store: ResultStore, *, specs: bool = True
    ) -> PlannedScreen:
        """The screen as planned under `results` (the directory snakemake runs in, or a
        cloud run's default storage), with every shard's spec; without `specs`, none (a
        reader that goes through the shards one at a time reads each itself: together they
        hold every target of the screen)."""
        screen = config.screen.name
        data = results.read_blob(plan_path(screen))
        if data is None:
            raise ConfigError(
                f"screen '{screen}' has no plan in {results.location} (no {plan_path(screen)}): "
                "the plan is written when Snakemake plans the screen (a run, or `snakemake -n`); "
                "give the directory snakemake runs in, or a cloud run's default storage prefix"
            )
        index = ScreenPlan.model_validate_json(data)
        names = [
            shard_spec_path(screen, entry.protein, entry.shard)
            for entry in index.shards
            if entry.sha256 is not None and specs
        ]
        with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
            contents = list(pool.map(results.read_blob, names))
        # (A spec that is not there, removed by hand, shows its shard as waiting.)
        specs = [ShardSpec.model_validate_json(data) for data in contents if data is not None]
        shards = {(spec.protein, spec.shard): spec for spec in specs}
        return cls(config, index, read_validated_sheet(index.sheet, store), shards)

    def targets(self):
        """Every target of the shards whose specs were read, shard by shard."""
        for shard in self.shards.values():
            yield from shard.targets

    @property
    def screen(self) -> str:
        return self.plan.screen

    @property
    def weights(self) -> Weights:
        return self.plan.weights

    @property
    def engine_weights(self) -> dict[str, Weights]:
        """Each engine's weights (`Plan.engine_weights`)."""
        return self.plan.engine_weights or {main_engine(self.config): self.plan.weights}

    @property
    def seeds(self) -> list[int | None]:
        return self.plan.seeds

    @property
    def target_count(self) -> int:
        return self.plan.target_count

    @property
    def msa_identities(self) -> dict[str, dict[str, str] | None]:
        return {name: protein.msa_identities for name, protein in self.plan.proteins.items()}

    @property
    def server_msa_ids(self) -> dict[str, str | None]:
        return {name: protein.server_msa_id for name, protein in self.plan.proteins.items()}

    def protein(self, name: str) -> Protein:
        return self.config.protein(name)
