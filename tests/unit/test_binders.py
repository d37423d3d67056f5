"""Binder-sequence screens (issue 22 item 3): the sheet, the keys, Boltz's input and the
interface score."""

from pathlib import Path

import pytest

from omtx_hub.sheet import SheetError, binders_of, sheet_own_columns, validate_sheet


def sheet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "binders.csv"
    path.write_text(text)
    return path


def problems(path: Path, *, affinity: bool = False) -> str:
    with pytest.raises(SheetError) as error:
        validate_sheet(path, affinity=affinity)
    return str(error.value)


def test_a_binder_sheet_gives_each_row_its_chain_msa_and_cyclic(tmp_path):
    path = sheet(
        tmp_path,
        "name,sequence,chain_type,msa,cyclic,series\n"
        "p1,gs wae,peptide,,,A\n"
        "d1,acgt,dna,,,B\n"
        "c1,CYCLIC,protein,empty,yes,C\n",
    )
    table = validate_sheet(path, affinity=False)
    assert [(b.sequence, b.type, b.msa, b.cyclic) for b in binders_of(table)] == [
        ("GSWAE", "protein", "empty", False),
        ("ACGT", "dna", None, False),
        ("CYCLIC", "protein", "empty", True),
    ]
    assert sheet_own_columns(table.columns) == ["series"]
    assert set(table["modeled_smiles"]) == {""}


def test_binder_rows_are_checked_with_the_receptor_alphabets_naming_line_and_column(tmp_path):
    message = problems(
        sheet(
            tmp_path,
            "name,sequence,chain_type,msa,cyclic\n"
            "bad_letter,GSW1E,peptide,,\n"
            "u_in_dna,ACGU,dna,,\n"
            "unknown_type,AAA,foo,,\n"
            "server_msa,AAA,,server,\n"
            "dna_msa,ACGT,dna,x.a3m,\n"
            "not_bool,AAA,,,maybe\n"
            "empty,,,,\n",
        )
    )
    assert "line 2 (name 'bad_letter'): column 'sequence' (protein): invalid amino-acid" in message
    assert "(first at position 4)" in message
    assert "line 3 (name 'u_in_dna'): column 'sequence' (dna): invalid DNA letter(s) 'U'" in message
    assert "line 4 (name 'unknown_type'): column 'chain_type': 'foo'" in message
    assert "line 5 (name 'server_msa'): column 'msa': 'server' is not available" in message
    assert "line 6 (name 'dna_msa'): column 'msa': a DNA binder has no MSA" in message
    assert "line 7 (name 'not_bool'): column 'cyclic'" in message
    assert "line 8 (name 'empty'): column 'sequence' (protein): the sequence is empty" in message


def test_a_row_with_a_sequence_and_a_molecule_is_refused(tmp_path):
    message = problems(sheet(tmp_path, "name,sequence,smiles\nmixed,GSW,CCO\n"))
    assert "line 2 (name 'mixed'): both column 'sequence' and column 'smiles' are filled" in message


def test_a_binder_sheet_with_affinity_is_refused(tmp_path):
    message = problems(sheet(tmp_path, "name,sequence\np1,GSW\n"), affinity=True)
    assert "needs model.affinity: false" in message
