"""The checks before planning of what a config names on disk: the ligand sheet, MSA files,
templates, checkpoints, Boltz's molecule cache and the store's directory.

The config models read nothing (omtx_hub.config), so that every process can load a config
cheaply; the process that plans a run calls `check_files` once, before anything is read or
computed, and a problem is reported as the config's own are: the key, what is wrong, what to
do. A shard job on its own machine checks only what it uses there (its weights and cache:
omtx_hub.weights; its MSA files against the plan: omtx_hub.predict).
"""

from __future__ import annotations

from omtx_hub.config import ScreenConfig, invalid_config, keyed_message
from omtx_hub.molecule_cache import cache_problems
from omtx_hub.msa_files import check_msa_file
from omtx_hub.paths import directory_problem, file_problem, is_file
from omtx_hub.receptor import ReceptorSpec, is_msa_file
from omtx_hub.templates import template_problems
from omtx_hub.warheads import site_problems

# Config paths are relative to the directory snakemake runs in.
RELATIVE_TO = "paths are relative to the directory snakemake runs in"


def file_problems(config: ScreenConfig) -> list[str]:
    """Every problem with the files and directories `config` names, worded for the config
    file (`config key '<key>': <message>`)."""
    found: list[tuple[str, str]] = []
    if problem := file_problem(config.ligands.sheet):
        where = f" ({RELATIVE_TO})" if problem == "does not exist" else ""
        found.append(("ligands.sheet", f"ligand sheet '{config.ligands.sheet}' {problem}{where}"))
    runtime = config.runtime
    if problem := directory_problem(runtime.cache):
        found.append(("runtime.cache", f"'{runtime.cache}' {problem}"))
    for field in ("checkpoint", "affinity_checkpoint"):
        path = getattr(runtime, field)
        if path is not None and not is_file(path, expand_user=True):
            found.append((f"runtime.{field}", f"checkpoint file '{path}' does not exist"))
    if not config.store.startswith("gs://") and (problem := directory_problem(config.store)):
        found.append(("store", f"'{config.store}' {problem}"))
    mols_dir = runtime.molecule_cache
    for index, protein in enumerate(config.proteins):
        where = f"proteins[{index}]"
        found += [(f"{where}.{key}", message) for key, message in _msa_problems(protein)]
        receptor = protein.receptor
        found += [
            (f"{where}.{key}", message)
            for key, message in site_problems(receptor, protein.residue_numbering)
        ]
        missing_templates = _missing_templates(receptor)
        found += [(f"{where}.{key}", message) for key, message in missing_templates]
        if missing_templates:
            continue  # what the templates hold is checked once they are there
        found += [(f"{where}.{key}", message) for key, message in template_problems(receptor)]
        # Checked when the molecule cache is here (a job's machine may have its own, e.g.
        # the container image's).
        if mols_dir.is_dir():
            problems = cache_problems(receptor, mols_dir)
            found += [(f"{where}.{key}", message) for key, message in problems]
    return [keyed_message(location, message) for location, message in found]


def check_files(config: ScreenConfig) -> None:
    """Raise ConfigError listing every `file_problems` of `config`."""
    problems = file_problems(config)
    if problems:
        raise invalid_config(problems)


def _msa_problems(protein) -> list[tuple[str, str]]:
    """A missing MSA file, or one whose query is not its chain's sequence (Boltz would
    predict without it): (key below the protein's entry, message)."""
    if protein.chains is None:
        entries = [("msa", protein.msa, protein.sequence, f"protein '{protein.name}'", "msa")]
    else:
        entries = [
            (f"chains[{i}].msa", chain.msa, chain.sequence, f"chain {chain.ids[0]}", f"chains[{i}]")
            for i, chain in enumerate(protein.chains)
            if chain.has_msa
        ]
    found = []
    for where, msa, sequence, owner, alignment_where in entries:
        if not is_msa_file(msa):
            continue
        if not is_file(msa):
            found.append((where, f"MSA file '{msa}' does not exist"))
            continue
        try:
            check_msa_file(msa, sequence, owner)
        except ValueError as error:
            found.append((alignment_where, str(error)))
    return found


def _missing_templates(receptor: ReceptorSpec) -> list[tuple[str, str]]:
    return [
        (
            f"templates[{i}].cif",
            f"template file '{template.cif}' does not exist ({RELATIVE_TO})",
        )
        for i, template in enumerate(receptor.templates)
        if not is_file(template.cif)
    ]
