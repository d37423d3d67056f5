"""Every modified residue of the example configs sits on its parent residue (issue 22 item
5: residue numbers checked, not written from memory). Boltz 2.2.1 puts a modification's CCD
component at `position` counted from 1 along the chain's sequence as given
(`parse_boltz_schema`, boltz/data/parse/schema.py: `idx = mod["position"] - 1  # 1-indexed`;
`seq[idx] = code`), whatever residue was there, and `residue_numbering` does not renumber
`modifications[].position` (omtx_hub.config, Protein.residue_numbering): so the sequence's
letter at that position must be the component's parent (PTR: Y, SEP: S, TPO: T), by gemmi's
table of CCD components (omtx_hub.modifications.tabulated_parent)."""

from __future__ import annotations

from pathlib import Path

import yaml
from snakemake.utils import update_config

from omtx_hub.config import load_config
from omtx_hub.modifications import tabulated_parent

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "config/examples").glob("*.yaml"))


def modified_residues(example: Path) -> list[tuple[str, str, int, str, str]]:
    """(protein, chain, position, CCD code, the sequence's letter there) of each
    modification of an example merged over config/config.yaml, as Snakemake merges it."""
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(raw, yaml.safe_load(example.read_text()))
    found = []
    for protein in load_config(raw).proteins:
        for chain in protein.receptor.chains:
            for modification in chain.modifications:
                position = modification.position
                letter = chain.sequence[position - 1] if position <= len(chain.sequence) else ""
                found.append((protein.name, chain.ids[0], position, modification.ccd, letter))
    return found


def test_every_example_modification_is_on_its_parent_residue():
    modifications = [m for example in EXAMPLES for m in modified_residues(example)]
    # The phosphorylated-kinase example's pY393, at least: the test checks something.
    assert ("ABL1_pY393", "A", 166, "PTR", "Y") in modifications
    for protein, chain, position, code, letter in modifications:
        # A code gemmi does not tabulate would not be checked: every example's must be.
        assert tabulated_parent(code) == ("modified amino acid", letter), (
            f"{protein} chain {chain}: {code} at position {position}, where the sequence has "
            f"{letter or 'no residue'}"
        )


def test_the_phospho_example_is_abl1_from_residue_228_so_y393_is_position_166():
    """config/examples/phospho-kinase.yaml gives ABL1 (UniProt P00519, canonical isoform IA,
    1130 residues) residues 228-500; its comment's numbering, position = residue - 227, puts
    Y393 at 166 and D381 of the DFG motif at 154, the pocket's last residue."""
    example = yaml.safe_load((REPO / "config/examples/phospho-kinase.yaml").read_text())
    (chain,) = example["proteins"][0]["chains"]
    sequence = chain["sequence"].replace(" ", "")
    assert len(sequence) == 500 - 228 + 1
    assert sequence[393 - 227 - 1] == "Y" and sequence[381 - 227 - 1 : 381 - 227 + 2] == "DFG"
    # The activation loop from the DFG motif to Y393, as UniProt P00519 has it (381-393).
    assert sequence[381 - 228 : 393 - 227] == "DFGLSRLMTGDTY"
    assert chain["modifications"] == [{"position": 166, "ccd": "PTR"}]
