import re
from pathlib import Path

import pytest

from omtx_hub.sheet import SheetError, safe_ligand_id, validate_sheet


def sheet(tmp_path: Path, text: str, name: str = "ligands.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path, *, affinity: bool = True) -> str:
    with pytest.raises(SheetError) as error:
        validate_sheet(path, affinity=affinity)
    return str(error.value)


def test_valid_sheet_keeps_extra_columns_and_canonicalises(tmp_path):
    path = sheet(tmp_path, "name,smiles,series\nasp,OC(=O)c1ccccc1OC(C)=O,A\neth,CCO,B\n")
    table = validate_sheet(path, affinity=True)
    assert list(table["name"]) == ["asp", "eth"]
    assert list(table["index"]) == [1, 2]
    assert list(table["line"]) == [2, 3]
    assert list(table["series"]) == ["A", "B"]
    assert table["canonical_smiles"][0] == "CC(=O)Oc1ccccc1C(=O)O"
    assert table["heavy_atoms"][0] == 13


def test_tsv_is_read_by_extension(tmp_path):
    path = sheet(tmp_path, "name\tsmiles\neth\tCCO\n", "ligands.tsv")
    assert list(validate_sheet(path, affinity=True)["name"]) == ["eth"]


def test_invalid_smiles_names_line_and_row(tmp_path):
    message = problems(sheet(tmp_path, "name,smiles\ngood,CCO\nbroken,C1CC\n"))
    assert "line 3 (name 'broken'): invalid SMILES 'C1CC'" in message
    assert "nothing was computed" in message


def test_empty_smiles_cell(tmp_path):
    assert "line 2 (name 'x'): the smiles cell is empty" in problems(
        sheet(tmp_path, "name,smiles\nx,\n")
    )


def test_empty_file(tmp_path):
    assert "is empty" in problems(sheet(tmp_path, ""))


def test_header_only(tmp_path):
    assert "has a header but no ligand rows" in problems(sheet(tmp_path, "name,smiles\n"))


@pytest.mark.parametrize(("header", "missing"), [("id,smiles", "'name'"), ("name,smi", "'smiles'")])
def test_missing_column_is_named(tmp_path, header, missing):
    message = problems(sheet(tmp_path, f"{header}\na,CCO\n"))
    assert f"lacks the column(s) {missing}" in message
    assert "found:" in message


def test_duplicate_names(tmp_path):
    message = problems(sheet(tmp_path, "name,smiles\nA,CCO\nB,CCN\nA,CCC\n"))
    assert "line 4 (name 'A'): duplicate name; first used on line 2" in message


def test_salts_are_rejected_when_so_configured(tmp_path):
    path = sheet(tmp_path, "name,smiles\nsalt,CC(=O)[O-].[Na+]\n")
    with pytest.raises(SheetError) as error:
        validate_sheet(path, affinity=True, salts="reject")
    assert "line 2 (name 'salt'): SMILES 'CC(=O)[O-].[Na+]' has several disconnected" in str(
        error.value
    )
    assert "ligands.salts: strip" in str(error.value)


def test_salts_are_stripped_by_default(tmp_path):
    table = validate_sheet(sheet(tmp_path, "name,smiles\nsalt,CC(=O)[O-].[Na+]\n"), affinity=True)
    assert table["smiles"][0] == "CC(=O)[O-].[Na+]"
    assert table["canonical_smiles"][0] == "CC(=O)[O-].[Na+]"
    assert table["modeled_smiles"][0] == "CC(=O)O"
    assert table["standardisation"][0] == "counter-ion removed: sodium; neutralised"
    assert table["heavy_atoms"][0] == 4


def test_too_many_atoms_for_affinity(tmp_path):
    big = "C" * 130
    path = sheet(tmp_path, f"name,smiles\nbig,{big}\n")
    assert "line 2 (name 'big'): 130 atoms as Boltz counts them" in problems(path)
    assert len(validate_sheet(path, affinity=False)) == 1


def test_new_columns_are_reserved(tmp_path):
    message = problems(sheet(tmp_path, "name,smiles,flags,modeled_smiles\na,CCO,x,y\n"))
    assert "['flags', 'modeled_smiles']" in message


def test_reserved_column_names(tmp_path):
    message = problems(sheet(tmp_path, "name,smiles,index\na,CCO,1\n"))
    assert "['index']" in message


def test_every_problem_listed_in_line_order(tmp_path):
    message = problems(sheet(tmp_path, "name,smiles\n,CCO\nb,xx\nc,CC\nb,CO\n"))
    assert message.index("line 2") < message.index("line 3") < message.index("line 5")


def test_missing_file(tmp_path):
    assert "does not exist" in problems(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "a b",
        "x;rm -rf /",
        "$(reboot)",
        "名前",
        "..",
        ".hidden",
        "-flag",
        "a" * 200,
        "back`tick`",
        "new\nline",
    ],
)
def test_safe_ids_carry_no_path_or_shell_syntax(name):
    ligand_id = safe_ligand_id(name)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", ligand_id), ligand_id
    assert safe_ligand_id(name) == ligand_id  # stable


def test_safe_names_are_kept_and_unsafe_ones_cannot_collide():
    assert safe_ligand_id("CHEMBL25") == "CHEMBL25"
    assert safe_ligand_id("a b") != safe_ligand_id("a/b")
    assert safe_ligand_id("a b").startswith("a_b-")


def test_original_name_is_kept_for_display(tmp_path):
    table = validate_sheet(sheet(tmp_path, 'name,smiles\n"cpd 1/2",CCO\n'), affinity=True)
    assert table["name"][0] == "cpd 1/2"
    assert "/" not in table["ligand_id"][0] and " " not in table["ligand_id"][0]


@pytest.mark.parametrize("name", ["a", "A" * 64])
def test_safe_names_of_every_allowed_length_are_kept(name):
    assert safe_ligand_id(name) == name


def test_too_long_names_are_cut_and_hashed():
    ligand_id = safe_ligand_id("A" * 65)
    assert len(ligand_id) == 64 and ligand_id.startswith("A" * 55 + "-")


def test_a_name_equal_to_another_names_safe_id_is_rejected(tmp_path):
    # 'a b' becomes 'a_b-<hash>'; a second ligand literally named so would share its files.
    taken = safe_ligand_id("a b")
    message = problems(sheet(tmp_path, f"name,smiles\na b,CCO\n{taken},CCN\n"))
    assert f"line 3 (name {taken!r}): its safe ID {taken!r} equals that of 'a b'" in message
