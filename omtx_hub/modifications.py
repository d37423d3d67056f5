"""Whether a chain's modified residues fit it: what can be known of a CCD code without the CCD.

Boltz 2.2.1 replaces the residue at a modification's position by the CCD component named
(`parse_boltz_schema`, boltz/data/parse/schema.py: `seq[position - 1] = code`), whatever the
residue was, and loads the component from its molecule cache (`load_molecules`,
boltz/data/mol.py: "CCD component X not found!" for a code it lacks; the cache is checked
before planning, omtx_hub.molecule_cache). The CCD itself cannot be read here, so the parent
of a modified residue is taken from gemmi's table of CCD components (gemmi 0.6.5, Boltz's
pin: `gemmi.find_tabulated_residue`), which gives a modified amino acid its parent's
one-letter code in lower case, as the CCD's `_chem_comp.mon_nstd_parent_comp_id` does (SEP:
's', parent SER; TPO: 't', THR; PTR: 'y', TYR; MSE: 'm', MET). A code the table does not know
is accepted (its parent cannot be checked offline) and must be in the molecule cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class ModifiedResidue(Protocol):
    position: int
    ccd: str


def tabulated_parent(code: str) -> tuple[str, str] | None:
    """(kind, parent one-letter code) of a CCD component gemmi tabulates: kind is
    'modified amino acid', 'amino acid', 'nucleotide' or 'other'; None when gemmi does not
    know the code. A modified amino acid's parent letter is upper case (SEP -> 'S')."""
    import gemmi

    info = gemmi.find_tabulated_residue(code)
    if info is None or not info.one_letter_code.strip():
        return None
    letter = info.one_letter_code
    if info.is_amino_acid():
        kind = "modified amino acid" if letter.islower() else "amino acid"
        return kind, letter.upper()
    return ("nucleotide" if info.is_nucleic_acid() else "other"), letter.upper()


def modification_problems(
    sequence: str, chain_type: str, modifications: Sequence[ModifiedResidue]
) -> list[tuple[str, str]]:
    """(key below the chain, message) for each modification that cannot be what the chain
    holds at its position: outside the sequence, given twice, a standard residue (a mutation
    belongs in the sequence), or, where gemmi knows the code, a modification of another
    residue or of another kind of polymer."""
    found = []
    seen: dict[int, int] = {}
    for index, modification in enumerate(modifications):
        where = f"modifications[{index}]"
        position, code = modification.position, modification.ccd
        if position > len(sequence):
            found.append(
                (
                    f"{where}.position",
                    f"residue {position} is outside the chain (1-{len(sequence)}; residues "
                    "are numbered from 1 along the sequence given here)",
                )
            )
            continue
        if position in seen:
            found.append(
                (
                    f"{where}.position",
                    f"residue {position} is modified twice (also in [{seen[position]}])",
                )
            )
        seen.setdefault(position, index)
        residue = sequence[position - 1]
        tabulated = tabulated_parent(code)
        if tabulated is None:
            continue
        kind, parent = tabulated
        if chain_type == "protein":
            if kind == "amino acid":
                found.append(
                    (
                        f"{where}.ccd",
                        f"{code} is a standard amino acid, not a modification: write "
                        f"'{parent}' at position {position} of the sequence instead",
                    )
                )
            elif kind != "modified amino acid":
                found.append((f"{where}.ccd", f"{code} is a {kind}, not an amino acid"))
            elif parent != residue:
                found.append(
                    (
                        f"{where}.ccd",
                        f"{code} is a modified {parent} (its CCD parent residue) but residue "
                        f"{position} is {residue}: check the position or the code",
                    )
                )
        elif kind in ("amino acid", "modified amino acid"):
            found.append(
                (
                    f"{where}.ccd",
                    f"{code} is an amino acid, not a nucleotide of this {chain_type.upper()} chain",
                )
            )
    return found
