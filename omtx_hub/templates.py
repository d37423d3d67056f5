"""Structural templates as Boltz's mmCIF parser reads them, and what a receptor's templates
would make it fail on.

Boltz 2.2.1 reads a template with gemmi after the clean-up of `parse_mmcif`
(boltz/data/parse/mmcif.py) and keys its chains by `label_asym_id` (gemmi's subchain id); it
loads every residue of it from its molecule cache (omtx_hub.molecule_cache checks those).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from omtx_hub.receptor import ReceptorSpec


@dataclass(frozen=True)
class TemplateChains:
    """What Boltz's mmCIF parser will see of a template: its protein chains (label_asym_id
    -> residue count) and the CCD codes of every residue it loads from the molecule cache."""

    protein_chains: dict[str, int]
    residue_codes: frozenset[str]


@cache
def _read_template(path: str, size: int, mtime_ns: int) -> TemplateChains:
    import gemmi

    try:
        block = gemmi.cif.read(path)[0]
        structure = gemmi.make_structure_from_block(block)
    except (RuntimeError, ValueError, IndexError) as error:
        raise ValueError(f"template '{path}' does not parse as mmCIF: {error}") from None
    # The same clean-up as boltz/data/parse/mmcif.py (parse_mmcif) before it reads chains.
    structure.merge_chain_parts()
    structure.remove_waters()
    structure.remove_hydrogens()
    structure.remove_alternative_conformations()
    structure.remove_empty_chains()
    if len(structure) == 0:
        raise ValueError(f"template '{path}' has no model (no atoms)")
    entities = {sub: entity for entity in structure.entities for sub in entity.subchains}
    proteins: dict[str, int] = {}
    codes: set[str] = set()
    for subchain in structure[0].subchains():
        entity = entities.get(subchain.subchain_id())
        if entity is None:
            continue
        if entity.entity_type == gemmi.EntityType.Polymer:
            if entity.polymer_type.name not in ("PeptideL", "Dna", "Rna"):
                continue
            if entity.polymer_type.name == "PeptideL":
                proteins[subchain.subchain_id()] = len(subchain)
            codes.update(gemmi.Entity.first_mon(m) for m in entity.full_sequence)
        elif entity.entity_type in (gemmi.EntityType.NonPolymer, gemmi.EntityType.Branched):
            names = {residue.name for residue in subchain}
            if "UNL" not in names:  # Boltz skips such chains
                codes.update(names)
    if not proteins:
        raise ValueError(f"template '{path}' has no protein chain")
    return TemplateChains(proteins, frozenset(codes))


def template_chains(path: str | Path) -> TemplateChains:
    """The template's chains as Boltz reads them (parsed once per unchanged file)."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _read_template(str(resolved), stat.st_size, stat.st_mtime_ns)


def template_problems(receptor: ReceptorSpec) -> list[tuple[str, str]]:
    """(key path below the receptor's entry, message) for each template that does not parse
    as Boltz parses it, or lacks a template chain the receptor maps to it."""
    found = []
    for i, template in enumerate(receptor.templates):
        where = f"templates[{i}]"
        try:
            parsed = template_chains(template.cif)
        except ValueError as error:
            found.append((f"{where}.cif", str(error)))
            continue
        _, theirs = template.chain_mapping
        for chain_id in theirs or []:
            if chain_id not in parsed.protein_chains:
                found.append(
                    (
                        f"{where}.chains",
                        f"template chain '{chain_id}' is not a protein chain "
                        f"of {template.cif} (its label_asym_ids: "
                        f"{', '.join(parsed.protein_chains)})",
                    )
                )
    return found
