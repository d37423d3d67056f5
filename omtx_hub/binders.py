"""Binder-sequence screens: a sheet of peptide, protein, DNA or RNA sequences instead of
molecules, one prediction per binder x receptor, ranked by the binder-receptor interface.

- **The sheet** (`sequence` column instead of `smiles`/`ccd`): `chain_type` (`protein`, the
  default; `peptide` is a protein; `dna`, `rna`), `msa` (`empty`, the default; `server`; or
  an `.a3m` / Boltz `.csv` file of a protein binder; DNA and RNA have none) and `cyclic`
  (true/false).
- **`msa: server`.** Each distinct binder sequence is its own query to the MSA server, the
  one-sequence query Boltz's `compute_msa` (boltz/main.py) makes for one protein entity:
  unpaired only (it asks for paired alignments only with several sequences). The binder is
  not paired with the receptor, though `boltz predict --use_msa_server` on one complex sends
  all its protein entities with `msa` unset in one paired query (`process_input`, same file):
  pairing matches rows by species, which a designed binder, a nanobody (camelid) against a
  human target or a peptide has none of; and paired, the receptor's MSA would be a different
  one for every binder, asked from the server once per binder x receptor, instead of the one
  query per receptor every molecule and every binder reuses. The binder's MSA is stored and
  addressed exactly as a one-chain receptor's (`keys.server_msa_id` of its one sequence), so
  a binder and a receptor chain of one sequence share it (omtx_hub.msa_server).
  The letters are checked by the code that checks receptor chains (omtx_hub.receptor), so
  Boltz never reads a letter as an unknown residue without a word.
- **Tokens.** Boltz-2 tokenizes each standard residue and nucleotide as one token
  (`Boltz2Tokenizer`, boltz/data/tokenize/boltz2.py) and sets no token limit at inference
  (`max_tokens=None` in boltz/data/module/inferencev2.py; the 256-token crop there applies
  only to the affinity stage, which binder screens do not run). The limit is the GPU's
  memory, which the screen's `limits.protein_max_residues` states: a binder's residues plus its
  receptor's must fit it (omtx_hub.plan, naming the line).
- **The score.** Boltz's confidence JSON (`BoltzWriter.write_on_batch_end`,
  boltz/data/write/writer.py) holds `pair_chains_iptm[i][j]` for the chains' asym ids i, j,
  computed in `compute_ptms` (boltz/model/layers/confidence_utils.py) as the max over the
  tokens of chain j of the mean predicted TM term towards the tokens of chain i, so it is not
  symmetric. `binder_iptm` is, over the receptor's polymer chains r, the highest of
  (pair[binder][r] + pair[r][binder]) / 2: the binder-receptor interface's ipTM, blind to
  cofactors and to the receptor's own chain interfaces (which Boltz's `iptm` counts).
  `binder_plddt` is the mean pLDDT of the binder's residues, read from the structure, where
  Boltz writes each residue's pLDDT x 100 as its atoms' B-factor (`to_mmcif`,
  boltz/data/write/mmcif.py). Boltz's `complex_iplddt` and `complex_ipde` (interface pLDDT
  and PDE over the whole complex) stay in the table beside them.
"""

from __future__ import annotations

from omtx_hub.receptor import (
    NUCLEIC_LETTERS,
    check_msa_source,
    clean_nucleic_sequence,
    clean_sequence,
)
from omtx_hub.records import Binder

# The sheet columns of a binder screen, besides `name` and `sequence`.
SEQUENCE_COLUMN = "sequence"
BINDER_COLUMNS = (SEQUENCE_COLUMN, "chain_type", "msa", "cyclic")
# `chain_type` values and the chain Boltz models for each.
CHAIN_TYPES = {"protein": "protein", "peptide": "protein", "dna": "dna", "rna": "rna"}
TRUE_CELLS, FALSE_CELLS = ("true", "yes", "1"), ("false", "no", "0", "")
# A binder's identity in keys and de-duplication (omtx_hub.keys.binder_identity); no SMILES
# starts so (`i` is no atom).
BINDER_IDENTITY_PREFIX = "binder:"


class BinderProblem(ValueError):
    """What is wrong with a binder sheet row, naming the column."""


def binder_of_row(sequence: str, chain_type: str, msa: str, cyclic: str) -> Binder:
    """The binder of one sheet row's cells (stripped); BinderProblem naming the column."""
    kind = CHAIN_TYPES.get((chain_type or "protein").lower())
    if kind is None:
        raise BinderProblem(
            f"column 'chain_type': '{chain_type}' is none of {', '.join(CHAIN_TYPES)} "
            "(peptide: a protein chain)"
        )
    try:
        letters = (
            clean_nucleic_sequence(sequence, kind)
            if kind in NUCLEIC_LETTERS
            else clean_sequence(sequence)
        )
    except ValueError as error:
        raise BinderProblem(f"column 'sequence' ({kind}): {error}") from None
    return Binder(sequence=letters, type=kind, msa=_msa(msa, kind), cyclic=_cyclic(cyclic))


def _msa(cell: str, kind: str) -> str | None:
    if kind in NUCLEIC_LETTERS:
        if cell not in ("", "empty"):
            raise BinderProblem(
                f"column 'msa': a {kind.upper()} binder has no MSA (Boltz aligns proteins "
                "only); leave the cell empty"
            )
        return None
    try:
        return check_msa_source(cell or "empty")
    except ValueError as error:
        raise BinderProblem(f"column 'msa': {error}") from None


def _cyclic(cell: str) -> bool:
    if cell.lower() in TRUE_CELLS:
        return True
    if cell.lower() in FALSE_CELLS:
        return False
    raise BinderProblem(f"column 'cyclic': '{cell}' is neither true nor false")


def pair_iptm(confidence: dict, binder: int, receptor: list[int]) -> float | None:
    """`binder_iptm` (module docstring) from Boltz's confidence JSON, whose
    `pair_chains_iptm` is keyed by asym id as text; None where it is absent."""
    pairs = confidence.get("pair_chains_iptm")
    if not pairs or not receptor:
        return None
    both_ways = [
        (pairs[str(binder)][str(chain)] + pairs[str(chain)][str(binder)]) / 2 for chain in receptor
    ]
    return max(both_ways)
