"""The receptor of a screen: everything Boltz-2 models around each screened ligand.

A receptor (one `proteins` entry of the config) is one or more protein chains (each with
its own sequence, MSA and copies), optional cofactors and ions (by CCD code or SMILES), an
optional pocket constraint for the screened ligand, contact constraints, and structural
templates. The sheet's ligand is the affinity binder, on a chain id that no receptor chain
uses. This module holds the config models of those parts and the checks across them that
need no file (chain ids, residue numbers, template chain names, what Boltz's parser rejects).
It reads nothing: the checks against files, templates and Boltz's molecule cache run before
planning (omtx_hub.preflight), the input document is omtx_hub.boltz_schema's and the
receptor's part of every key omtx_hub.keys's.

Boltz's conventions, from `boltz/data/parse/schema.py` (`parse_boltz_schema`, boltz 2.2.1):
- residues are numbered from 1 along the sequence given here (`token_spec_to_ids`:
  `residue_index - 1`), whatever numbering a crystal structure uses; a cofactor's atoms are
  named as in its CCD entry (a SMILES cofactor's atoms: element + canonical rank, e.g. `C1`);
- a template's chains are the mmCIF `label_asym_id`s (`parse_mmcif` keys chains by gemmi's
  subchain id), its id is the file's stem, and `force` needs a `threshold`;
- proteins with the same sequence must share one MSA; the affinity binder is one ligand chain.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from omtx_hub.modifications import modification_problems

# The one-letter codes Boltz 2.2.1 reads in a protein sequence: the keys of
# `prot_letter_to_token` (boltz/data/const.py), the 20 standard amino acids and X, J, B, Z, O,
# U (each the unknown residue, UNK), but its gap '-'. `parse_boltz_schema`
# (boltz/data/parse/schema.py) maps any other character to UNK without a word, so other
# characters are refused here.
PROTEIN_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWYXUOBZJ")
CHAIN_ID_PATTERN = r"^[A-Za-z0-9]{1,4}$"
ChainId = Annotated[str, StringConstraints(pattern=CHAIN_ID_PATTERN)]
# CCD codes are 1-5 upper-case letters or digits (wwPDB extended them from 3 to 5 in 2023).
CCD_PATTERN = r"^[A-Z0-9]{1,5}$"
# The chain of a single-chain receptor written as `sequence:` + `msa:` on the entry.
SHORTHAND_CHAIN = "A"
# Boltz's documented range for pocket and contact `max_distance` (docs/prediction.md).
MIN_DISTANCE, MAX_DISTANCE, DEFAULT_DISTANCE = 4.0, 20.0, 6.0
# The longest protein `limits.protein_max_residues` may allow, and the largest residue number:
# Boltz-2's memory grows with the square of the residues, and 2,000 fill an 80 GB GPU.
MAX_RESIDUES = 10_000
# Chain ids handed out, in order, to the screened ligand and to cofactors without an `id`.
FREE_CHAIN_IDS = string.ascii_uppercase + string.digits


class Strict(BaseModel):
    # Every number of the config is finite (YAML reads `.inf` and `.nan` as floats).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class KeyedProblems(ValueError):
    """Several problems, each at a key path below the model that raises it; the config's
    error report lists each under its full key."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{where}: {message}" for where, message in problems))


def clean_sequence(sequence: str) -> str:
    """One-letter codes without whitespace, ASCII lower case made upper case; a ValueError
    names each bad character and the position (residue number) of the first.

    Only ASCII letters change case: Python's `str.upper` would turn 'ß' into 'SS', 'ﬁ' into
    'FI', 'ſ' into 'S' and 'ı' into 'I', changing the number of residues and so every residue
    number after it (pockets, contacts, templates)."""
    cleaned = "".join(
        letter.upper() if letter.isascii() else letter for letter in re.sub(r"\s+", "", sequence)
    )
    if not cleaned:
        raise ValueError("the sequence is empty")
    bad = sorted(set(cleaned) - PROTEIN_LETTERS)
    if bad:
        position = next(i for i, letter in enumerate(cleaned, 1) if letter in bad)
        shown = ", ".join(
            repr(b) if b.isascii() and b.isprintable() else f"{b!r} (U+{ord(b):04X})" for b in bad
        )
        raise ValueError(
            f"invalid amino-acid letter(s) {shown} (first at position {position}); use "
            "one-letter codes, the ASCII letters A-Z in either case (Boltz reads B, J, O, U, X "
            "and Z as an unknown residue)"
        )
    return cleaned


def check_msa_source(msa: str) -> str:
    """`empty`, `server` or the name of an MSA file Boltz reads (whether the file is there and
    aligns the sequence is checked before planning: omtx_hub.preflight)."""
    if msa in ("empty", "server") or is_msa_file(msa):
        return msa
    raise ValueError(f"'{msa}' is neither 'empty', 'server' nor an .a3m/.csv file")


def is_msa_file(msa: str) -> bool:
    """Whether a chain's `msa` setting names a file (Boltz reads .a3m and .csv)."""
    return Path(msa).suffix in (".a3m", ".csv")


# Boltz's README recommends an MSA; without one (`empty`) it predicts single-sequence, which
# its docs call not recommended (docs/inputs.md, "MSAs", quotes both).
DEFAULT_MSA = "server"
MSA_DESCRIPTION = (
    "`server` (default, as Boltz recommends): the ColabFold MMseqs2 server "
    "(`runtime.msa_server_url`) is asked **once per receptor** (one paired query for all "
    "`server` chains); the MSA is kept in the result store and reused by every ligand and every "
    "later screen. A path to an `.a3m` or Boltz `.csv` MSA file whose first sequence is the "
    "chain's (checked at planning). `empty`: single-sequence mode, which Boltz calls not "
    "recommended (reduced accuracy); its results are flagged `no-msa`. The MSA's content is "
    "part of the cache key."
)


def _chain_ids(given: str | list[str], copies: int | None) -> tuple[str, ...]:
    """The chain ids of an entry: `id` as given, or `copies` ids counted on from a letter."""
    if isinstance(given, list):
        if not given:
            raise ValueError("id: give at least one chain id")
        if copies is not None and copies != len(given):
            raise ValueError(
                f"copies: {copies} but {len(given)} ids are given; give one id per copy"
            )
        return tuple(given)
    count = copies or 1
    if count == 1:
        return (given,)
    if given not in string.ascii_uppercase or ord(given) + count - 1 > ord("Z"):
        raise ValueError(
            f"copies: {count} copies of chain '{given}' need one id each: give them as a "
            f"list (id: [{given}, ...])"
        )
    return tuple(chr(ord(given) + i) for i in range(count))


# The letters Boltz 2.2.1 reads in a DNA and an RNA sequence: the keys of
# `dna_letter_to_token` and `rna_letter_to_token` (boltz/data/const.py), N the unknown
# nucleotide. `parse_boltz_schema` maps any other letter to that unknown nucleotide without a
# word, so other letters are refused here.
NUCLEIC_LETTERS = {"dna": frozenset("ACGTN"), "rna": frozenset("ACGUN")}
# A protein sequence of these letters only may be DNA or RNA written without `type`.
NUCLEOTIDE_LOOKALIKE = frozenset("ACGTU")
PolymerType = Literal["protein", "dna", "rna"]


def clean_nucleic_sequence(sequence: str, kind: str) -> str:
    """A DNA or RNA sequence without whitespace, upper case; a ValueError names each bad
    letter and the position of the first."""
    cleaned = re.sub(r"\s+", "", sequence)
    cleaned = "".join(letter.upper() if letter.isascii() else letter for letter in cleaned)
    if not cleaned:
        raise ValueError("the sequence is empty")
    allowed = NUCLEIC_LETTERS[kind]
    bad = sorted(set(cleaned) - allowed)
    if bad:
        position = next(i for i, letter in enumerate(cleaned, 1) if letter in bad)
        raise ValueError(
            f"invalid {kind.upper()} letter(s) {', '.join(map(repr, bad))} (first at position "
            f"{position}); a {kind.upper()} chain is written in {', '.join(sorted(allowed))} "
            "(N: unknown nucleotide)"
        )
    return cleaned


class Modification(Strict):
    """A modified residue of a chain (Boltz's `modifications`: the residue at `position` is
    the CCD component `ccd`, e.g. SEP, a phosphoserine, at a serine)."""

    position: int = Field(
        ge=1, le=MAX_RESIDUES, description="Residue number, from 1 along the sequence."
    )
    ccd: str = Field(
        description="The modified residue's CCD code (SEP, TPO, PTR, MSE, ...). It must be in "
        "Boltz's molecule cache (checked before planning where the cache is) and, where "
        "gemmi's table of CCD components knows its parent residue, be a modification of the "
        "residue at `position` (omtx_hub.modifications)."
    )

    @field_validator("ccd")
    @classmethod
    def _ccd_code(cls, code: str) -> str:
        code = code.strip().upper()
        if not re.match(CCD_PATTERN, code):
            raise ValueError(f"'{code}' is not a CCD code (1-5 letters or digits)")
        return code


class ProteinChain(Strict):
    """One polymer chain of a receptor (protein, DNA or RNA), or several identical copies."""

    id: ChainId | list[ChainId] = Field(
        description="Chain id (1-4 letters or digits), or a list of ids: one chain per id, "
        "all with this sequence (a homo-oligomer)."
    )
    type: PolymerType = Field(
        "protein",
        description="`protein` (default), `dna` or `rna`. A protein sequence of only A, C, G, "
        "T and U gets a warning at planning (it may be a nucleic acid written without `type`); "
        "`type: protein` written out settles it.",
    )
    sequence: str = Field(
        description="One-letter codes: amino acids for a protein, A/C/G/T (DNA) or A/C/G/U "
        "(RNA), N an unknown nucleotide; whitespace and line breaks are removed, ASCII lower "
        "case is accepted (no other case folding: 'ß' is refused, never read as 'SS'). "
        "Residues are numbered from 1 along this sequence in `modifications`, and in "
        "`pocket`, `contacts` and `covalent` unless the protein's `residue_numbering` "
        "numbers the chain."
    )
    msa: str | None = Field(
        DEFAULT_MSA,
        description=MSA_DESCRIPTION + " Protein chains only: DNA and RNA chains have none.",
    )
    copies: int | None = Field(
        None,
        ge=1,
        le=26,
        description="Number of identical copies (homo-oligomer). With a single-letter `id` the "
        "copies get that letter and the following ones (`id: A, copies: 2` is A and B); "
        "with a list of ids it must match their number. At most 26, the letters A to Z.",
    )
    modifications: list[Modification] = Field(
        [],
        description="Modified residues, `{position: N, ccd: CODE}` each (Boltz's "
        "`modifications`), e.g. a phosphorylated activation loop.",
    )
    cyclic: bool = Field(
        False,
        description="true: the chain is cyclic, its last residue bonded to its first "
        "(Boltz's `cyclic`; a cyclic peptide).",
    )

    @model_validator(mode="before")
    @classmethod
    def _nucleic_acids_have_no_msa(cls, raw):
        if isinstance(raw, dict) and raw.get("type") in NUCLEIC_LETTERS:
            if raw.get("msa") is not None:
                raise ValueError(
                    f"msa: {raw['type'].upper()} chains have no MSA (Boltz aligns proteins "
                    "only); remove `msa`"
                )
            return {**raw, "msa": None}
        return raw

    @field_validator("sequence")
    @classmethod
    def _polymer_letters(cls, sequence: str, info: ValidationInfo) -> str:
        kind = info.data.get("type", "protein")
        if kind not in NUCLEIC_LETTERS:
            return clean_sequence(sequence)
        try:
            return clean_nucleic_sequence(sequence, kind)
        except ValueError as error:
            chain = info.data.get("id")
            named = chain if isinstance(chain, str) else "/".join(chain or ["?"])
            raise ValueError(f"chain {named}: {error}") from None

    @field_validator("msa")
    @classmethod
    def _msa_source(cls, msa: str | None) -> str | None:
        return None if msa is None else check_msa_source(msa)

    @model_validator(mode="after")
    def _ids_match_copies(self) -> ProteinChain:
        _chain_ids(self.id, self.copies)
        if self.type == "protein" and self.msa is None:
            raise ValueError("msa: a protein chain needs `empty`, `server` or an MSA file")
        return self

    @model_validator(mode="after")
    def _modifications_fit(self) -> ProteinChain:
        problems = modification_problems(self.sequence, self.type, self.modifications)
        if problems:
            raise KeyedProblems(problems)
        return self

    @property
    def ids(self) -> tuple[str, ...]:
        return _chain_ids(self.id, self.copies)

    @property
    def has_msa(self) -> bool:
        return self.type == "protein"

    def lookalike_warning(self) -> str | None:
        """Why a protein chain may be a nucleic acid written without `type`, or None (also
        when `type: protein` is written out)."""
        if self.type != "protein" or "type" in self.model_fields_set:
            return None
        if set(self.sequence) <= NUCLEOTIDE_LOOKALIKE:
            return (
                f"chain {self.ids[0]}'s sequence has only the letters "
                f"{''.join(sorted(set(self.sequence)))}: it is modelled as a protein (a "
                "peptide of Ala, Cys, Gly, Thr, Sec); if it is DNA or RNA, write `type: dna` or "
                "`type: rna`, else `type: protein` to silence this warning"
            )
        return None


def canonical_smiles(smiles: str) -> str:
    """RDKit's canonical SMILES, or a ValueError saying the SMILES does not parse."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        raise ValueError(f"SMILES '{smiles}' does not parse (RDKit)")
    return Chem.MolToSmiles(molecule)


@cache
def smiles_atom_names(smiles: str) -> frozenset[str]:
    """The heavy-atom names Boltz gives a SMILES ligand: element + canonical rank over the
    molecule with hydrogens (`parse_boltz_schema`, ligand by `smiles`)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    molecule = AllChem.AddHs(Chem.MolFromSmiles(smiles))
    ranks = AllChem.CanonicalRankAtoms(molecule)
    return frozenset(
        atom.GetSymbol().upper() + str(rank + 1)
        for atom, rank in zip(molecule.GetAtoms(), ranks, strict=True)
        if atom.GetAtomicNum() != 1
    )


class Cofactor(Strict):
    """A cofactor, ion or any other molecule modelled with every ligand (not screened)."""

    ccd: str | None = Field(
        None,
        description="Its code in the PDB's Chemical Component Dictionary (`ZN`, `MG`, `ATP`, "
        "`HEM`, `NAD`, ...); Boltz takes the molecule from its cache (`runtime.cache`/mols).",
    )
    smiles: str | None = Field(
        None, description="Or a SMILES (RDKit-canonicalised before it reaches Boltz)."
    )
    id: ChainId | list[ChainId] | None = Field(
        None,
        description="Its chain id, or one id per copy; default: the next free letters after "
        "the screened ligand's chain.",
    )
    copies: int | None = Field(
        None, ge=1, le=26, description="Number of copies (e.g. two `MG` for ATP); at most 26."
    )

    @field_validator("ccd")
    @classmethod
    def _ccd_code(cls, code: str | None) -> str | None:
        if code is None:
            return None
        code = code.strip().upper()
        if not re.match(CCD_PATTERN, code):
            raise ValueError(f"'{code}' is not a CCD code (1-5 letters or digits)")
        return code

    @field_validator("smiles")
    @classmethod
    def _parses(cls, smiles: str | None) -> str | None:
        return None if smiles is None else canonical_smiles(smiles.strip())

    @model_validator(mode="after")
    def _one_molecule(self) -> Cofactor:
        if (self.ccd is None) == (self.smiles is None):
            raise ValueError("give either `ccd` or `smiles`")
        if self.id is not None:
            _chain_ids(self.id, self.copies)
        return self

    @property
    def label(self) -> str:
        return self.ccd or self.smiles or ""


class TokenRef(Strict):
    """A residue of a protein chain (`[A, 45]`) or an atom of a cofactor (`[C, ZN]`)."""

    chain: ChainId
    residue: int | None = Field(
        None,
        ge=1,
        le=MAX_RESIDUES,
        description="Residue number: from 1 along the sequence, or in the protein's "
        "`residue_numbering` for a chain it numbers.",
    )
    atom: str | None = Field(None, description="Atom name, for a cofactor's chain.")

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value):
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("write it as [CHAIN, RESIDUE_NUMBER] or [CHAIN, ATOM_NAME]")
            chain, where = value
            return {"chain": chain, ("residue" if isinstance(where, int) else "atom"): where}
        return value

    @model_validator(mode="after")
    def _residue_or_atom(self) -> TokenRef:
        if (self.residue is None) == (self.atom is None):
            raise ValueError("give either `residue` or `atom`")
        return self

    def boltz(self) -> list:
        return [self.chain, self.residue if self.residue is not None else self.atom]

    def __str__(self) -> str:
        return f"{self.chain} {self.residue if self.residue is not None else self.atom}"


_DISTANCE = (
    "Å; Boltz supports 4-20 (docs/prediction.md): the binder must come within this distance "
    "of each listed residue."
)


class Pocket(Strict):
    """Steers the screened ligand into a binding site (Boltz's `pocket` constraint)."""

    residues: list[TokenRef] = Field(
        min_length=1,
        description="The site: `[CHAIN, RESIDUE]` pairs (or `{chain:, residue:}`; "
        "`[CHAIN, ATOM]` for a cofactor's atom). Residues are numbered from 1 along the "
        "sequence given here, or in the protein's `residue_numbering`.",
    )
    max_distance: float = Field(
        DEFAULT_DISTANCE,
        ge=MIN_DISTANCE,
        le=MAX_DISTANCE,
        description="Largest distance (" + _DISTANCE + ")",
    )
    force: bool = Field(
        False,
        description="true: a potential enforces the pocket during sampling (Boltz: 'a "
        "potential will be used to enforce the pocket constraint'); false: the model is only "
        "conditioned on it.",
    )


class Contact(Strict):
    """A distance restraint between two receptor residues or cofactor atoms."""

    token1: TokenRef = Field(description="`[CHAIN, RESIDUE]` or `[CHAIN, ATOM]`.")
    token2: TokenRef = Field(description="`[CHAIN, RESIDUE]` or `[CHAIN, ATOM]`.")
    max_distance: float = Field(
        DEFAULT_DISTANCE, ge=MIN_DISTANCE, le=MAX_DISTANCE, description="Å; Boltz supports 4-20."
    )
    force: bool = Field(False, description="true: a potential enforces it during sampling.")


class Covalent(Strict):
    """A covalent screen: every screened molecule bonds this receptor atom at its warhead's
    reacting atom (Boltz's `bond` constraint; omtx_hub.warheads finds the atom in each
    molecule, and planning refuses a sheet row it finds at no atom or at several)."""

    residue: TokenRef = Field(
        description="The receptor residue that reacts, `[CHAIN, RESIDUE]` (e.g. `[A, 12]`, "
        "the cysteine of KRAS G12C), numbered from 1 along the sequence given here, or in "
        "the protein's `residue_numbering`."
    )
    atom: str = Field(
        description="Its atom that bonds the ligand, named as in the residue's CCD entry "
        "(`SG` of a cysteine, `OG` of a serine, `NZ` of a lysine)."
    )
    warhead: str = Field(
        description="A preset (`acrylamide`, `chloroacetamide`, `vinyl_sulfonamide`, "
        "`nitrile`, `boronic_acid`: docs/inputs.md, 'Covalent screens') or a SMARTS whose "
        "reacting atom is mapped `:1` and any leaving atom `:2` (removed from the modelled "
        "ligand), e.g. `[CX3:1]=[CX3]-[CX3](=O)-[NX3]`."
    )

    @model_validator(mode="after")
    def _a_residue(self) -> Covalent:
        if self.residue.residue is None:
            raise ValueError("residue: give [CHAIN, RESIDUE_NUMBER] of a protein chain")
        return self


class Template(Strict):
    """A structure (e.g. a holo crystal structure) the prediction is guided by."""

    cif: str = Field(description="An mmCIF file; its content is part of the cache key.")
    chains: dict[ChainId, str] | list[ChainId] | None = Field(
        None,
        description="Which chains it templates: `{A: A, B: C}` maps receptor chain -> "
        "template chain (the mmCIF `label_asym_id`); a list of receptor chains lets Boltz "
        "pick the best-matching template chains; omitted: every protein chain.",
    )
    force: bool = Field(
        False,
        description="true: a potential keeps the backbone within `threshold` Å of the "
        "template (needs `threshold`).",
    )
    threshold: float | None = Field(
        None,
        gt=0,
        le=100,
        description="Å the prediction may deviate from the template, with `force`; at most "
        "100 (more leaves the template no hold on any protein).",
    )

    @field_validator("cif")
    @classmethod
    def _cif_file(cls, path: str) -> str:
        if Path(path).suffix.lower() not in (".cif", ".mmcif"):
            raise ValueError(f"'{path}' is not an mmCIF file (.cif)")
        return path

    @model_validator(mode="after")
    def _force_needs_threshold(self) -> Template:
        if self.force and self.threshold is None:
            raise ValueError("force: true needs a `threshold` (Å), as Boltz requires")
        if not self.force and self.threshold is not None:
            raise ValueError("threshold acts only with force: true (Boltz ignores it otherwise)")
        return self

    @property
    def chain_mapping(self) -> tuple[list[str] | None, list[str] | None]:
        """Boltz's (chain_id, template_id) lists."""
        if isinstance(self.chains, dict):
            return list(self.chains), list(self.chains.values())
        return self.chains, None


def _chain_summary(chain: ProteinChain) -> dict:
    """A chain in summary.json; type, modifications and `cyclic` only where set."""
    entry: dict = {"ids": list(chain.ids), "length": len(chain.sequence), "msa": chain.msa}
    if chain.type != "protein":
        entry = {"ids": entry["ids"], "type": chain.type, "length": entry["length"]}
    if chain.modifications:
        entry["modifications"] = [m.model_dump() for m in chain.modifications]
    if chain.cyclic:
        entry["cyclic"] = True
    return entry


@dataclass(frozen=True)
class ReceptorSpec:
    """The parts of one config entry, as the checks and the documents need them."""

    chains: tuple[ProteinChain, ...]
    cofactors: tuple[Cofactor, ...] = ()
    pocket: Pocket | None = None
    contacts: tuple[Contact, ...] = ()
    templates: tuple[Template, ...] = ()
    covalent: Covalent | None = None
    ligand_copies: int = 1

    @classmethod
    def single_chain(cls, sequence: str, msa: str = "empty") -> ReceptorSpec:
        return cls((ProteinChain(id=SHORTHAND_CHAIN, sequence=sequence, msa=msa),))

    # --- chain ids -----------------------------------------------------------------------

    def _free_ids(self) -> list[str]:
        used = {i for chain in self.chains for i in chain.ids}
        used |= {i for c in self.cofactors if c.id is not None for i in _chain_ids(c.id, c.copies)}
        return [i for i in FREE_CHAIN_IDS if i not in used]

    @property
    def ligand_chain(self) -> str:
        """The screened ligand's chain: the first letter no receptor chain uses (its first
        copy's, with `ligand_copies`)."""
        return self._free_ids()[0]

    @property
    def ligand_ids(self) -> tuple[str, ...]:
        """The chain of each copy of the screened ligand: the first free letters."""
        return tuple(self._free_ids()[: self.ligand_copies])

    def cofactor_ids(self) -> list[tuple[str, ...]]:
        """Each cofactor's chain ids: its own, or the next free ones after the ligand's."""
        free = iter(self._free_ids()[self.ligand_copies :])
        ids = []
        for cofactor in self.cofactors:
            if cofactor.id is not None:
                ids.append(_chain_ids(cofactor.id, cofactor.copies))
            else:
                ids.append(tuple(next(free) for _ in range(cofactor.copies or 1)))
        return ids

    @property
    def is_shorthand(self) -> bool:
        """One chain A, nothing else: the receptor every screen had before multi-chain ones."""
        only = self.chains[0]
        return (
            len(self.chains) == 1
            and only.ids == (SHORTHAND_CHAIN,)
            and only.type == "protein"
            and not (only.modifications or only.cyclic)
            and not (self.cofactors or self.pocket or self.contacts or self.templates)
            and self.covalent is None
            and self.ligand_copies == 1
        )

    @property
    def sequence_sha256(self) -> str:
        """sha256 of the chains' sequences, one per copy, joined by ':' (one chain: of its
        sequence)."""
        sequences = [chain.sequence for chain in self.chains for _ in chain.ids]
        return hashlib.sha256(":".join(sequences).encode()).hexdigest()

    @property
    def residue_count(self) -> int:
        return sum(len(chain.sequence) * len(chain.ids) for chain in self.chains)

    def local_files(self) -> list[str]:
        """The files shard jobs read: user MSA files and template mmCIFs."""
        msas = [c.msa for c in self.msa_chains if c.msa not in ("empty", "server")]
        return msas + [template.cif for template in self.templates]

    def server_chains(self) -> dict[str, str]:
        """First chain id -> sequence of every `msa: server` chain (one paired query)."""
        return {c.ids[0]: c.sequence for c in self.msa_chains if c.msa == "server"}

    @property
    def msa_chains(self) -> tuple[ProteinChain, ...]:
        """The protein chain entries: those with an MSA (DNA and RNA chains have none)."""
        return tuple(chain for chain in self.chains if chain.has_msa)

    def warnings(self) -> list[tuple[str, str]]:
        """(key path below the entry, message) for what is accepted but may not be meant: a
        protein chain whose sequence looks like DNA or RNA."""
        return [
            (f"chains[{i}].sequence", warning)
            for i, chain in enumerate(self.chains)
            if (warning := chain.lookalike_warning())
        ]

    def summary(self) -> dict:
        """What summary.json says of the receptor. `msa` is the chains' common MSA setting
        ('mixed' when they differ); `ligand_chain` is the screened ligand's chain in every
        structure file (the dashboard's viewer shows that chain as the ligand)."""
        modes = {chain.msa for chain in self.msa_chains}
        return {
            "length": self.residue_count,
            "msa": modes.pop() if len(modes) == 1 else "mixed",
            "chains": [_chain_summary(c) for c in self.chains],
            "ligand_chain": self.ligand_chain,
            **({"ligand_chains": list(self.ligand_ids)} if self.ligand_copies > 1 else {}),
            "cofactors": [
                {"ids": list(ids), **({"ccd": c.ccd} if c.ccd else {"smiles": c.smiles})}
                for c, ids in zip(self.cofactors, self.cofactor_ids(), strict=True)
            ],
            "pocket": self.pocket.model_dump(mode="json") if self.pocket else None,
            "contacts": len(self.contacts),
            "templates": [Path(t.cif).name for t in self.templates],
            **({"covalent": self.covalent.model_dump(mode="json")} if self.covalent else {}),
        }

    # --- checks --------------------------------------------------------------------------

    def problems(self) -> list[tuple[str, str]]:
        """(key path below the entry, message) for each inconsistency across its parts."""
        found: list[tuple[str, str]] = []
        owners: dict[str, str] = {}
        named = [(f"chains[{i}].id", chain.ids) for i, chain in enumerate(self.chains)]
        named += [
            (f"cofactors[{i}].id", _chain_ids(c.id, c.copies))
            for i, c in enumerate(self.cofactors)
            if c.id is not None
        ]
        for where, ids in named:
            for chain_id in ids:
                if chain_id in owners:
                    found.append(
                        (where, f"chain id '{chain_id}' is used twice (also in {owners[chain_id]})")
                    )
                owners.setdefault(chain_id, where)
        if self.ligand_copies > 1 and self.covalent is not None:
            found.append(
                ("ligand_copies", "a covalent screen bonds one copy of each molecule: use 1")
            )
        needed = self.ligand_copies + sum(c.copies or 1 for c in self.cofactors if c.id is None)
        if len(self._free_ids()) < needed:
            found.append(("cofactors", "no chain ids left for the ligand and the cofactors"))
            return found
        found += self._entity_problems()
        found += self._token_problems()
        found += self._template_problems()
        return found

    def _entity_problems(self) -> list[tuple[str, str]]:
        """Boltz makes one entity of the chains of one type and sequence and gives every copy
        the first entry's MSA, modifications and `cyclic` (`parse_boltz_schema` groups
        `sequences` by type and sequence): entries that differ in those are refused."""
        found = []
        first_of: dict[tuple[str, str], int] = {}
        for i, chain in enumerate(self.chains):
            first = first_of.setdefault((chain.type, chain.sequence), i)
            if first == i:
                continue
            other = self.chains[first]
            if other.msa != chain.msa:
                found.append(
                    (
                        f"chains[{i}].msa",
                        f"chains[{first}] has the same sequence with msa '{other.msa}'; Boltz "
                        "requires one MSA for identical sequences (use one entry with a list "
                        "of ids)",
                    )
                )
            for setting in ("modifications", "cyclic"):
                if getattr(other, setting) != getattr(chain, setting):
                    found.append(
                        (
                            f"chains[{i}].{setting}",
                            f"chains[{first}] has the same sequence with other {setting}; "
                            f"Boltz would give both the {setting} of chains[{first}] (it makes "
                            "one entity of identical sequences): make them the same",
                        )
                    )
        return found

    def _protein_ids(self) -> set[str]:
        return {i for chain in self.chains if chain.type == "protein" for i in chain.ids}

    def covalent_residue(self) -> tuple[str, bool] | None:
        """The covalent site's residue: its three-letter code (or modification's CCD code)
        and whether it is modified; None without a covalent site."""
        if self.covalent is None:
            return None
        ref = self.covalent.residue
        chain = next(c for c in self.chains if ref.chain in c.ids)
        modified = {m.position: m.ccd for m in chain.modifications}
        if ref.residue in modified:
            return modified[ref.residue], True
        return chain.sequence[ref.residue - 1], False

    def _lengths(self) -> dict[str, int]:
        return {i: len(chain.sequence) for chain in self.chains for i in chain.ids}

    def _cofactor_atoms(self) -> dict[str, frozenset[str] | None]:
        """Cofactor chain -> its atom names (None for a CCD code: known from the cache only)."""
        atoms: dict[str, frozenset[str] | None] = {}
        for cofactor, ids in zip(self.cofactors, self.cofactor_ids(), strict=True):
            names = smiles_atom_names(cofactor.smiles) if cofactor.smiles else None
            atoms.update(dict.fromkeys(ids, names))
        return atoms

    def token_refs(self) -> list[tuple[str, TokenRef]]:
        """Each residue or atom the pocket, the covalent site and the contacts name, with its
        key path below the entry."""
        refs = []
        if self.pocket is not None:
            refs += [(f"pocket.residues[{i}]", r) for i, r in enumerate(self.pocket.residues)]
        if self.covalent is not None:
            refs.append(("covalent.residue", self.covalent.residue))
        for i, contact in enumerate(self.contacts):
            refs += [
                (f"contacts[{i}].token1", contact.token1),
                (f"contacts[{i}].token2", contact.token2),
            ]
        return refs

    def numbering_problems(self, numbering: Mapping[str, int]) -> list[tuple[str, str]]:
        """(key path, message) for each chain of a user numbering (`residue_numbering`:
        chain -> the user's number of its sequence's first residue) that is no protein chain,
        and each residue the entry names on such a chain outside it."""
        proteins, lengths = self._protein_ids(), self._lengths()
        found = [
            (
                f"residue_numbering.{chain}",
                f"chain {chain} is no protein chain of this receptor "
                f"({', '.join(sorted(proteins))})",
            )
            for chain in numbering
            if chain not in proteins
        ]
        for where, ref in self.token_refs():
            first = numbering.get(ref.chain)
            if first is None or ref.residue is None or ref.chain not in proteins:
                continue
            last = first + lengths[ref.chain] - 1
            if not first <= ref.residue <= last:
                found.append(
                    (
                        where,
                        f"residue {ref.residue} is outside chain {ref.chain} ({first}-{last}: "
                        f"residue_numbering numbers it from {first})",
                    )
                )
        return found

    def in_boltz_numbering(self, numbering: Mapping[str, int]) -> ReceptorSpec:
        """This receptor with the residues its pocket, covalent site and contacts name in a
        user numbering (`numbering_problems` found none) renumbered as Boltz numbers them,
        from 1 along each sequence: the same spec, and so the same key and Boltz input, as
        one written in Boltz's numbering."""
        if not numbering:
            return self

        def boltz(ref: TokenRef) -> TokenRef:
            first = numbering.get(ref.chain)
            if first is None or ref.residue is None:
                return ref
            return ref.model_copy(update={"residue": ref.residue - first + 1})

        pocket, covalent = self.pocket, self.covalent
        if pocket is not None:
            pocket = pocket.model_copy(update={"residues": [boltz(r) for r in pocket.residues]})
        if covalent is not None:
            covalent = covalent.model_copy(update={"residue": boltz(covalent.residue)})
        contacts = tuple(
            c.model_copy(update={"token1": boltz(c.token1), "token2": boltz(c.token2)})
            for c in self.contacts
        )
        return replace(self, pocket=pocket, covalent=covalent, contacts=contacts)

    def _token_problems(self) -> list[tuple[str, str]]:
        refs: list[tuple[str, TokenRef | None]] = list(self.token_refs())
        refs += [
            (f"contacts[{i}]", None)
            for i, contact in enumerate(self.contacts)
            if contact.token1 == contact.token2
        ]
        lengths, cofactors = self._lengths(), self._cofactor_atoms()
        found = []
        for where, ref in refs:
            if ref is None:
                found.append((where, "token1 and token2 are the same"))
            elif ref.chain in self.ligand_ids:
                use = (
                    "list receptor residues only (the screened ligand is the pocket's binder)"
                    if where.startswith("pocket")
                    else "its atoms differ from ligand to ligand; use `pocket` to place it"
                )
                found.append((where, f"chain {ref.chain} is the screened ligand's: {use}"))
            elif ref.chain in lengths:
                if ref.residue is None:
                    found.append(
                        (where, f"chain {ref.chain} is a protein chain: give a residue number")
                    )
                elif where == "covalent.residue" and ref.chain not in self._protein_ids():
                    found.append((where, f"chain {ref.chain} is not a protein chain"))
                elif ref.residue > lengths[ref.chain]:
                    found.append(
                        (
                            where,
                            f"residue {ref.residue} is outside chain {ref.chain} "
                            f"(1-{lengths[ref.chain]}; residues are numbered from 1 along the "
                            "sequence given here)",
                        )
                    )
            elif ref.chain in cofactors:
                names = cofactors[ref.chain]
                if ref.atom is None:
                    found.append((where, f"chain {ref.chain} is a cofactor: give an atom name"))
                elif names is not None and ref.atom not in names:
                    found.append(
                        (
                            where,
                            f"cofactor chain {ref.chain} has no atom '{ref.atom}' "
                            f"(its atoms: {', '.join(sorted(names))})",
                        )
                    )
            else:
                found.append(
                    (
                        where,
                        f"unknown chain '{ref.chain}' (chains: {', '.join(self.chain_names())})",
                    )
                )
        if self.pocket is not None and len(set(map(str, self.pocket.residues))) < len(
            self.pocket.residues
        ):
            found.append(("pocket.residues", "a residue is listed twice"))
        return found

    def chain_names(self) -> list[str]:
        return [i for chain in self.chains for i in chain.ids] + [
            i for ids in self.cofactor_ids() for i in ids
        ]

    def _template_problems(self) -> list[tuple[str, str]]:
        """Template names Boltz would confuse and chains a template is given for that the
        receptor lacks (what the mmCIF file holds is checked before planning)."""
        found = []
        protein_ids = list(self._lengths())
        stems: dict[str, int] = {}
        for i, template in enumerate(self.templates):
            where = f"templates[{i}]"
            stem = Path(template.cif).stem
            if stem in stems:
                found.append(
                    (
                        f"{where}.cif",
                        f"templates[{stems[stem]}] has the same file name stem "
                        f"'{stem}'; Boltz names templates by it: rename one file",
                    )
                )
            stems.setdefault(stem, i)
            ours, _ = template.chain_mapping
            for chain_id in ours or []:
                if chain_id not in protein_ids:
                    found.append(
                        (
                            f"{where}.chains",
                            f"'{chain_id}' is not a protein chain of this "
                            f"receptor ({', '.join(protein_ids)})",
                        )
                    )
        return found
