"""Reading the sheet file: line numbers are the file's own, and the header is unambiguous."""

from pathlib import Path

import pytest

from omtx_hub.sheet import SheetError, read_sheet, validate_sheet


def sheet(tmp_path: Path, text: str, name: str = "ligands.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def problems(path: Path) -> str:
    with pytest.raises(SheetError) as error:
        validate_sheet(path, affinity=True)
    return str(error.value)


def test_blank_lines_do_not_shift_line_numbers(tmp_path):
    path = sheet(tmp_path, "name,smiles\n\nok,CCO\n\n\nbroken,C1CC\n")
    assert "line 6 (name 'broken'): invalid SMILES" in problems(path)


def test_quoted_multi_line_cell_does_not_shift_later_line_numbers(tmp_path):
    text = 'name,smiles,note\nok,CCO,"two\nlines"\nbroken,C1CC,x\n'
    assert "line 4 (name 'broken'): invalid SMILES" in problems(sheet(tmp_path, text))


def test_a_row_is_numbered_by_the_line_its_record_starts_on(tmp_path):
    # (A name cannot span lines: tests/unit/test_hostile_input.py.)
    text = 'name,smiles,note\n\nfirst,CCO,"multi\nline a\n\nb"\n\nlast,CCN,\n'
    table = validate_sheet(sheet(tmp_path, text), affinity=True)
    assert list(table["line"]) == [3, 8]
    assert table["note"][0] == "multi\nline a\n\nb"


def test_crlf_line_endings_and_byte_order_mark(tmp_path):
    path = sheet(tmp_path, "\ufeffname,smiles\r\n\r\nok,CCO\r\nbroken,xx\r\n")
    assert "line 4 (name 'broken')" in problems(path)


def test_tsv_line_numbers(tmp_path):
    path = sheet(tmp_path, "name\tsmiles\n\nok\tCCO\nbroken\txx\n", "ligands.tsv")
    assert "line 4 (name 'broken')" in problems(path)


def test_duplicate_names_cite_both_file_lines(tmp_path):
    message = problems(sheet(tmp_path, "name,smiles\n\nA,CCO\n\nA,CCC\n"))
    assert "line 5 (name 'A'): duplicate name; first used on line 3" in message


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("name,smiles,smiles", "'smiles' and 'smiles'"),
        ("name,smiles,Smiles", "'smiles' and 'Smiles'"),
        ("name,smiles, smiles", "'smiles' and 'smiles'"),
        ("name,SMILES,smiles", "'SMILES' and 'smiles'"),
        ("name,Name,smiles", "'name' and 'Name'"),
        ("name,smiles,series,SERIES", "'series' and 'SERIES'"),
    ],
)
def test_duplicate_and_near_duplicate_headers_are_rejected_naming_them(tmp_path, header, named):
    cells = ",".join(["x"] * (header.count(",") + 1))
    message = problems(sheet(tmp_path, f"{header}\n{cells}\n"))
    assert "repeats a column" in message
    assert named in message


def test_upper_case_required_column_is_named_with_a_hint(tmp_path):
    message = problems(sheet(tmp_path, "name,SMILES\na,CCO\n"))
    assert "lacks the column(s) 'smiles'" in message
    assert "'SMILES'" in message and "lower case" in message


def test_row_with_more_cells_than_the_header_names_its_line(tmp_path):
    message = problems(sheet(tmp_path, "name,smiles\n\na,CCO\nb,CC,extra\n"))
    assert "line 4 has 3 cells but the header names 2 columns" in message


def test_short_rows_get_empty_cells(tmp_path):
    assert "line 2 (name 'a'): the smiles cell is empty" in problems(
        sheet(tmp_path, "name,smiles\na\n")
    )


def test_trailing_separator_columns_are_dropped_when_empty(tmp_path):
    table = validate_sheet(sheet(tmp_path, "name,smiles,,\na,CCO,,\n"), affinity=True)
    assert list(table.columns)[-1] == "heavy_atoms"


def test_unnamed_column_with_data_is_rejected(tmp_path):
    message = problems(sheet(tmp_path, "name,smiles,\na,CCO,\nb,CCN,oops\n"))
    assert "column 3 has no name in the header" in message
    assert "line 3" in message


def test_only_blank_lines_is_empty(tmp_path):
    assert "is empty" in problems(sheet(tmp_path, "\n\n"))


def test_undecodable_bytes_are_a_sheet_error(tmp_path):
    path = tmp_path / "ligands.csv"
    path.write_bytes(b"name,smiles\n\xff\xfe,CCO\n")
    assert "is not UTF-8: line 2, byte 1 (byte 13 of the file) is 0xFF" in problems(path)


def test_names_like_numbers_stay_text(tmp_path):
    frame = read_sheet(sheet(tmp_path, "name,smiles\n1e5,CCO\nNA,CCN\n007,CCC\n"))
    assert list(frame["name"]) == ["1e5", "NA", "007"]
    assert list(frame.index) == [2, 3, 4]


@pytest.mark.parametrize("suffix", [".tsv", ".tab", ".txt", ".TSV"])
def test_tab_separated_suffixes(tmp_path, suffix):
    path = sheet(tmp_path, "name\tsmiles\tnote\neth\tCCO\ta, b\n", f"ligands{suffix}")
    table = validate_sheet(path, affinity=True)
    assert list(table["note"]) == ["a, b"]


def test_spaces_after_separators_are_skipped_before_quotes(tmp_path):
    table = validate_sheet(sheet(tmp_path, 'name,smiles,note\neth, CCO, "1, 2"\n'), affinity=True)
    assert list(table["note"]) == ["1, 2"] and list(table["smiles"]) == ["CCO"]


def test_affinity_limit_is_inclusive(tmp_path):
    path = sheet(tmp_path, f"name,smiles\nat-limit,{'C' * 128}\n")
    assert list(validate_sheet(path, affinity=True)["heavy_atoms"]) == [128]


def test_empty_name_is_named_by_line(tmp_path):
    assert "line 3: the name cell is empty" in problems(
        sheet(tmp_path, "name,smiles\na,CC\n,CCO\n")
    )


def test_header_problems_name_the_file(tmp_path):
    path = sheet(tmp_path, "name,smiles,Smiles\na,CCO,CCO\n")
    assert f"ligand sheet '{path}' repeats a column" in problems(path)


def test_long_problem_lists_are_cut_with_a_count(tmp_path):
    rows = "".join(f"bad{i},xx\n" for i in range(30))
    message = problems(sheet(tmp_path, "name,smiles\n" + rows))
    assert message.count("invalid SMILES") == 25
    assert message.endswith("... and 5 more problem(s)")
    assert "has 30 problem(s)" in message


@pytest.mark.parametrize(("bad_rows", "tail"), [(25, None), (26, "... and 1 more problem(s)")])
def test_problem_list_is_cut_only_beyond_25(tmp_path, bad_rows, tail):
    rows = "".join(f"bad{i},xx\n" for i in range(bad_rows))
    message = problems(sheet(tmp_path, "name,smiles\n" + rows))
    assert message.count("invalid SMILES") == 25
    if tail is None:
        assert "more problem(s)" not in message
    else:
        assert message.endswith(tail)
