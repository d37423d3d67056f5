"""DNA, RNA, modified residues and cyclic chains in a receptor (issue 22, item 2): each is
validated before any GPU time, naming the key, the chain and the position; each enters the
keys only where it is set; and a protein chain that looks like DNA gets a warning."""

from __future__ import annotations

import shutil

import pytest

from omtx_hub.config import ConfigError, load_config, receptor_warnings
from omtx_hub.modifications import tabulated_parent
from omtx_hub.preflight import check_files
from tests.screens import write_screen
from tests.unit.test_receptor import plan_keys

KINASE_LOOP = "MKTAYIAKQRGSEPTYVAR"


def receptor(*chains, **parts) -> dict:
    return {"name": "R", "chains": list(chains), **parts}


def protein(sequence=KINASE_LOOP, **fields) -> dict:
    return {"id": "A", "sequence": sequence, "msa": "empty", **fields}


def problems(tmp_path, *proteins, **overrides) -> str:
    with pytest.raises(ConfigError) as error:
        check_files(load_config(write_screen(tmp_path, proteins=list(proteins), **overrides)))
    return str(error.value)


def test_nucleic_acid_alphabets_name_the_chain_and_position(tmp_path):
    message = problems(
        tmp_path,
        receptor(
            protein(),
            {"id": "B", "type": "dna", "sequence": "ACGTACGU"},
            {"id": "C", "type": "rna", "sequence": "acgux"},
        ),
    )
    assert (
        "'proteins[0].chains[1].sequence': chain B: invalid DNA letter(s) 'U' (first at "
        "position 8)" in message
    )
    assert (
        "'proteins[0].chains[2].sequence': chain C: invalid RNA letter(s) 'X' (first at position 5)"
        in message
    )


def test_nucleic_acids_have_no_msa(tmp_path):
    message = problems(
        tmp_path,
        receptor(protein(), {"id": "B", "type": "dna", "sequence": "ACGT", "msa": "empty"}),
    )
    assert "'proteins[0].chains[1]': msa: DNA chains have no MSA" in message


@pytest.mark.parametrize(
    ("code", "expected"),
    # gemmi's table of CCD components (the parent of _chem_comp.mon_nstd_parent_comp_id).
    [
        ("SEP", ("modified amino acid", "S")),
        ("TPO", ("modified amino acid", "T")),
        ("PTR", ("modified amino acid", "Y")),
        ("MSE", ("modified amino acid", "M")),
        ("SER", ("amino acid", "S")),
        ("DA", ("nucleotide", "A")),
        ("XYZ99", None),
    ],
)
def test_the_parent_of_a_modified_residue(code, expected):
    assert tabulated_parent(code) == expected


def test_modifications_must_fit_their_residue(tmp_path):
    # KINASE_LOOP: S at 12, T at 15, Y at 16.
    message = problems(
        tmp_path,
        receptor(
            protein(
                modifications=[
                    {"position": 12, "ccd": "TPO"},
                    {"position": 15, "ccd": "tpo"},
                    {"position": 16, "ccd": "SEP"},
                    {"position": 40, "ccd": "PTR"},
                    {"position": 1, "ccd": "ALA"},
                    {"position": 15, "ccd": "TPO"},
                ]
            )
        ),
    )
    key = "'proteins[0].chains[0].modifications"
    assert (
        f"{key}[0].ccd': TPO is a modified T (its CCD parent residue) but residue 12 is S"
        in message
    )
    assert f"{key}[1]" not in message  # TPO at a threonine fits, lower case or not
    assert (
        f"{key}[2].ccd': SEP is a modified S (its CCD parent residue) but residue 16 is Y"
        in message
    )
    assert f"{key}[3].position': residue 40 is outside the chain (1-19" in message
    assert f"{key}[4].ccd': ALA is a standard amino acid, not a modification" in message
    assert f"{key}[5].position': residue 15 is modified twice (also in [1])" in message


def test_a_modification_boltz_would_not_find_is_refused_before_planning(tmp_path, boltz_test_cache):
    cache = tmp_path / "cache"
    shutil.copytree(boltz_test_cache / "mols", cache / "mols")
    chain = protein(modifications=[{"position": 12, "ccd": "SEP"}, {"position": 15, "ccd": "TPO"}])
    message = problems(tmp_path, receptor(chain), runtime={"cache": str(cache)})
    assert (
        "chains[0].modifications[1].ccd': CCD code 'TPO' is not in Boltz's molecule cache"
        in message
    )
    assert "modifications[0]" not in message  # SEP is in the test cache


def test_identical_sequences_must_share_modifications_and_cyclic(tmp_path):
    # Boltz makes one entity of them and gives every copy the first entry's settings.
    message = problems(
        tmp_path,
        receptor(
            protein(modifications=[{"position": 12, "ccd": "SEP"}]),
            protein(id="B"),
            protein(id="C", cyclic=True),
        ),
    )
    assert (
        "'proteins[0].chains[1].modifications': chains[0] has the same sequence with other "
        "modifications" in message
    )
    assert (
        "'proteins[0].chains[2].cyclic': chains[0] has the same sequence with other cyclic"
        in message
    )


def test_a_protein_chain_that_looks_like_dna_is_a_warning_settled_by_its_type(tmp_path):
    def warnings(chain):
        return receptor_warnings(
            load_config(write_screen(tmp_path, proteins=[receptor(protein(), chain)]))
        )

    (warning,) = warnings({"id": "B", "sequence": "ACGTTGCA", "msa": "empty"})
    assert warning.startswith(
        "config key 'proteins[0].chains[1].sequence': chain B's sequence has only the letters ACGT"
    )
    assert "write `type: dna` or `type: rna`" in warning
    assert warnings({"id": "B", "type": "protein", "sequence": "ACGTTGCA", "msa": "empty"}) == []
    assert warnings({"id": "B", "type": "dna", "sequence": "ACGTTGCA"}) == []


def test_each_new_part_is_in_the_key_only_when_set(tmp_path):
    def keys(*chains):
        return plan_keys(tmp_path, [receptor(*chains)])["R"]

    base = keys(protein())
    variants = [
        keys(protein(modifications=[{"position": 12, "ccd": "SEP"}])),
        keys(protein(cyclic=True)),
        keys(protein(), {"id": "B", "type": "dna", "sequence": "ACGT"}),
        keys(protein(), {"id": "B", "type": "rna", "sequence": "ACGU"}),
        keys(protein(), {"id": "B", "type": "protein", "sequence": "ACGT", "msa": "empty"}),
    ]
    assert all(not (variant & base) for variant in variants)
    assert len({frozenset(v) for v in variants}) == len(variants)
    # Written out, the defaults are the receptor as before.
    assert keys(protein(type="protein", modifications=[], cyclic=False)) == base
