"""Boltz's molecule cache (`<runtime.cache>/mols/<CODE>.pkl`): what a screen takes from it,
and what Boltz would not find there.

Boltz 2.2.1 loads every CCD molecule it models from this cache (`load_molecules` in
boltz/data/mol.py): CCD cofactors, sheet rows by CCD code, modified residues of a chain, and
every residue of a template. A code it lacks stops its preprocessing of the target ("CCD
component X not found!").
"""

from __future__ import annotations

import pickle
from functools import cache
from pathlib import Path

from omtx_hub.boltz_cache import ccd_file
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.templates import template_chains


def ccd_cache_problem(code: str, mols_dir: Path) -> str | None:
    """Why Boltz would not find the CCD code in its molecule cache `mols_dir`, or None."""
    path = ccd_file(code, mols_dir)
    if path.is_file():
        return None
    return (
        f"CCD code '{code}' is not in Boltz's molecule cache {mols_dir} (no {path.name}): "
        f"check the code (https://www.rcsb.org/ligand/{code})"
    )


@cache
def ccd_molecule(path: str):
    """A molecule of Boltz's cache (mols/<CODE>.pkl): an RDKit Mol with hydrogens, its atoms
    named as in the CCD."""
    with open(path, "rb") as handle:
        return pickle.load(handle)  # noqa: S301 - Boltz's own cache file


def ccd_atom_names(path: str) -> frozenset[str]:
    """The heavy-atom names of a molecule in Boltz's cache (mols/<CODE>.pkl)."""
    return frozenset(
        atom.GetProp("name") for atom in ccd_molecule(path).GetAtoms() if atom.GetAtomicNum() != 1
    )


def ccd_lookup(mols_dir: Path):
    """The molecule of a CCD code in the cache `mols_dir` (LookupError naming the problem when
    the cache lacks it), for omtx_hub.sheet; None when the cache is not here."""
    if not mols_dir.is_dir():
        return None

    def molecule(code: str):
        if problem := ccd_cache_problem(code, mols_dir):
            raise LookupError(problem)
        return ccd_molecule(str(ccd_file(code, mols_dir)))

    return molecule


def cache_problems(receptor: ReceptorSpec, mols_dir: Path) -> list[tuple[str, str]]:
    """What Boltz would not find in its molecule cache `mols_dir` for `receptor`: CCD
    cofactors, modified residues, the atom names pocket/contacts give for them, and the
    residues of each template; (key path below the receptor's entry, message) each."""
    found = []
    atoms: dict[str, tuple[str, Path]] = {}
    for i, (cofactor, ids) in enumerate(
        zip(receptor.cofactors, receptor.cofactor_ids(), strict=True)
    ):
        if cofactor.ccd is None:
            continue
        if problem := ccd_cache_problem(cofactor.ccd, mols_dir):
            found.append((f"cofactors[{i}].ccd", problem))
            continue
        atoms.update(dict.fromkeys(ids, (cofactor.ccd, ccd_file(cofactor.ccd, mols_dir))))
    for i, chain in enumerate(receptor.chains):
        for j, modification in enumerate(chain.modifications):
            if problem := ccd_cache_problem(modification.ccd, mols_dir):
                found.append((f"chains[{i}].modifications[{j}].ccd", problem))
    pocket = receptor.pocket
    refs = list(pocket.residues) if pocket else []
    refs += [t for c in receptor.contacts for t in (c.token1, c.token2)]
    for ref in refs:
        if ref.atom is not None and ref.chain in atoms:
            code, path = atoms[ref.chain]
            names = ccd_atom_names(str(path))
            if ref.atom not in names:
                found.append(
                    (
                        "pocket" if pocket and ref in pocket.residues else "contacts",
                        f"{code} (chain {ref.chain}) has no atom '{ref.atom}' (its heavy "
                        f"atoms: {', '.join(sorted(names))})",
                    )
                )
    for i, template in enumerate(receptor.templates):
        try:
            codes = template_chains(template.cif).residue_codes
        except ValueError:
            continue  # reported by templates.template_problems
        missing = sorted(c for c in codes if not ccd_file(c, mols_dir).is_file())
        if missing:
            found.append(
                (
                    f"templates[{i}].cif",
                    f"Boltz's molecule cache {mols_dir} lacks the "
                    f"residues {', '.join(missing)} of {template.cif}; Boltz would fail to "
                    "read it",
                )
            )
    return found
