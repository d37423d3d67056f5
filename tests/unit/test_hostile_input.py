"""The catalogue of hostile and broken input (docs/reliability.md, "Hostile and broken input").

Every case goes through planning as the workflow does it at parse time (common.smk:
`load_config`, then `build_plan` with the result store) and is either refused with a message
that names the sheet line, column or config key, or planned safely: names stay data, every
file name derived from the sheet stays inside results/<screen>/, and nothing is read that
should be refused first. The real workflow runs a hostile screen in
tests/workflow/test_hostile_screen.py; random sheets and configs are in
tests/unit/test_hostile_properties.py.
"""

from __future__ import annotations

import ast
import bz2
import codecs
import gzip
import json
import lzma
import os
import re
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from omtx_hub.config import ConfigError
from omtx_hub.sheet import (
    MAX_COLUMNS,
    MAX_SMILES_CHARACTERS,
    SheetError,
    safe_ligand_id,
    sheet_own_columns,
)
from tests.hostile import (
    HOSTILE_NAMES,
    PROTEIN,
    SAFE_ID,
    hostile_sheet,
    inside_the_screens_results,
    plan,
    planned_paths,
    screen_config,
)

REPO = Path(__file__).resolve().parents[2]
GOOD_SHEET = b"name,smiles\naspirin,CC(=O)Oc1ccccc1C(=O)O\n"


def refusal(raw: dict) -> str:
    with pytest.raises((SheetError, ConfigError)) as error:
        plan(raw)
    return str(error.value)


@dataclass(frozen=True)
class Refused:
    """A sheet and config that planning refuses, and what its message must say."""

    sheet: bytes = GOOD_SHEET
    says: tuple[str, ...] = ()
    config: dict = field(default_factory=dict)
    file_name: str = "ligands.csv"


UTF8_BOM = codecs.BOM_UTF8
REFUSED = {
    # The molecules.
    "invalid-smiles": Refused(
        b"name,smiles\nok,CCO\nbroken,C1CC\n",
        ("line 3 (name 'broken'): invalid SMILES 'C1CC' (RDKit cannot parse it)",),
    ),
    "empty-smiles": Refused(b"name,smiles\nx,\n", ("line 2 (name 'x'): the smiles cell is empty",)),
    # RDKit would read 'CCO' and take ' ethanol' for the molecule's name.
    "smiles-with-trailing-text": Refused(
        b"name,smiles\neth,CCO ethanol\n",
        ("line 2 (name 'eth'): the smiles cell 'CCO ethanol' holds a space or line break",),
    ),
    "unsupported-element-dummy-atom": Refused(
        b"name,smiles\nr-group,*CC\n",
        ("line 2 (name 'r-group'): SMILES '*CC' has a dummy atom", "no element"),
    ),
    "unsupported-element-attachment-point": Refused(
        b"name,smiles\nfrag,[*:1]c1ccccc1\n",
        ("line 2 (name 'frag'): SMILES '[*:1]c1ccccc1' has a dummy atom",),
    ),
    # RDKit crashes the process (a segmentation fault) on a 20,000-atom chain: refused before
    # RDKit sees it (were it not, this test's process would die).
    "smiles-longer-than-the-limit": Refused(
        b"name,smiles\nok,CCO\nlong," + b"C" * 20_000 + b"\n",
        (
            f"line 3 (name 'long'): the smiles cell has 20,000 characters, more than "
            f"{MAX_SMILES_CHARACTERS:,}",
        ),
    ),
    # Boltz models no hydrogen (boltz.data.parse.schema.parse_ccd_residue): a ligand of no
    # atom would fail in its mmCIF writer, heavy water would be modelled as one hydrogen.
    "molecules-boltz-cannot-model": Refused(
        b"name,smiles\nok,CCO\nhydrogen,[H][H]\nproton,[H+]\ndeuterium,[2H][2H]\n"
        b"hydride,[H-]\nheavy-water,[2H]O[2H]\n",
        (
            "line 3 (name 'hydrogen'): the molecule Boltz models, '[H][H]', has no heavy atom",
            "line 4 (name 'proton'): the molecule Boltz models, '[H+]', has no heavy atom",
            "line 5 (name 'deuterium'): the molecule Boltz models, '[2H][2H]', has no heavy",
            "line 6 (name 'hydride'): the molecule Boltz models, '[HH]', has no heavy atom",
            "line 7 (name 'heavy-water'): the molecule Boltz models, '[2H]O[2H]', has one heavy "
            "atom and isotopic hydrogens",
            "has 5 problem(s)",
        ),
    ),
    # A salt with no organic fragment: stripping "counter-ions" would model one ion picked by
    # RDKit's largest-fragment rule (chloride for NaCl) as if it were the compound.
    "counter-ions-only": Refused(
        b"name,smiles\nok,CCO\nsalt-of-a-drug,CC(=O)[O-].[Na+]\nbrine,[Na+].[Cl-]\n"
        b"hydrate,O.[NH4+].[Cl-]\n",
        (
            "line 4 (name 'brine'): SMILES '[Na+].[Cl-]' is only inorganic ions or molecules "
            "([Na+], [Cl-]: no fragment has a carbon atom)",
            "ligands.salts: strip would model '[Cl-]' alone",
            "line 5 (name 'hydrate'): SMILES 'O.[NH4+].[Cl-]' is only inorganic ions",
            "has 2 problem(s)",
        ),
    ),
    # The file.
    "empty-file": Refused(b"", ("is empty: add a header 'name,smiles' and rows",)),
    "blank-lines-only": Refused(b"\n\n\r\n", ("is empty",)),
    "header-only": Refused(b"name,smiles\n", ("has a header but no ligand rows",)),
    "missing-column": Refused(
        b"id,smiles\na,CCO\n", ("lacks the column(s) 'name' (found: 'id', 'smiles')",)
    ),
    "misspelt-column": Refused(
        b"name,smile\na,CCO\n", ("lacks the column(s) 'smiles' (found: 'name', 'smile')",)
    ),
    "upper-case-columns": Refused(
        b"Name,SMILES\na,CCO\n", ("lacks the column(s) 'name', 'smiles'", "(lower case)")
    ),
    "column-twice": Refused(
        b"name,smiles,SMILES\na,CCO,CCO\n", ("repeats a column: 'smiles' and 'SMILES'",)
    ),
    "reserved-column": Refused(
        b"name,smiles,ligand_id\na,CCO,x\n", ("column(s) ['ligand_id']", "rename them")
    ),
    "unquoted-comma-in-a-cell": Refused(
        b"name,smiles\nmethyl, ethyl ether,COCC\n",
        ("line 2 has 3 cells but the header names 2 columns; quote cells that contain ','",),
    ),
    "data-in-an-unnamed-column": Refused(
        b"name,smiles,\na,CCO,\nb,CCN,oops\n",
        ("column 3 has no name in the header but holds data (first on line 3)",),
    ),
    "latin-1-file": Refused(
        "name,smiles\ncafé,CCO\n".encode("latin-1"),
        (
            "is not UTF-8: line 2, byte 4 (byte 16 of the file) is 0xE9 ('é' in Windows-1252",
            "Save the sheet as UTF-8 ('CSV UTF-8' in Excel",
        ),
    ),
    "utf-16-file": Refused(
        "name,smiles\na,CCO\n".encode("utf-16"), ("is UTF-16 text", "save it as 'CSV UTF-8'")
    ),
    # Without a byte-order mark: told by the NUL high bytes of its ASCII characters, with
    # non-ASCII letters too (which used to be taken for Windows-1252).
    "utf-16-file-without-bom": Refused(
        "name,smiles\na,CCO\n".encode("utf-16-le"),
        ("is UTF-16 text (UTF-16LE) without a byte-order mark: save it as 'CSV UTF-8'",),
    ),
    "utf-16-file-without-bom-non-ascii": Refused(
        "name,smiles\ncafé,CCO\n".encode("utf-16-le"),
        ("is UTF-16 text (UTF-16LE) without a byte-order mark", "iconv -f UTF-16LE"),
    ),
    "utf-16-big-endian-without-bom": Refused(
        "name,smiles\ncafé,CCO\n".encode("utf-16-be"),
        ("is UTF-16 text (UTF-16BE) without a byte-order mark",),
    ),
    "utf-32-file": Refused("name,smiles\na,CCO\n".encode("utf-32"), ("is UTF-32 text",)),
    "gzip-file-named-csv": Refused(
        gzip.compress(GOOD_SHEET), ("is gzip-compressed, not text: decompress it (`gunzip",)
    ),
    "bzip2-file-named-csv": Refused(bz2.compress(GOOD_SHEET), ("is bzip2-compressed",)),
    "xz-file-named-csv": Refused(lzma.compress(GOOD_SHEET), ("is xz-compressed",)),
    "binary-file": Refused(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        ("is a binary file, not text",),
    ),
    # The csv module's own limit on a cell (a quote left open is the usual cause).
    "cell-longer-than-the-csv-limit": Refused(
        b"name,smiles,note\na,CCO," + b"x" * 200_000 + b"\n",
        ("line 2 has a cell longer than 131,072 characters",),
    ),
    "more-columns-than-the-limit": Refused(
        ",".join(["name", "smiles", *(f"c{i}" for i in range(MAX_COLUMNS - 1))]).encode()
        + b"\na,CCO\n",
        (f"line 1 (the header) names {MAX_COLUMNS + 1:,} columns, more than {MAX_COLUMNS:,}",),
    ),
    "sheet-columns-that-would-share-a-name": Refused(
        b"name,smiles,status,sheet_status\na,CCO,x,y\n",
        (
            "has the columns 'status' and 'sheet_status', which would both be 'sheet_status' "
            "in batch_results.csv",
        ),
    ),
    "sheet-path-is-a-directory": Refused(
        config={"ligands": "/"},
        says=("config key 'ligands.sheet': ligand sheet '/' is a directory",),
    ),
    "sheet-path-is-a-device": Refused(
        config={"ligands": "/dev/null"},
        says=("ligand sheet '/dev/null' is a character device, not a file",),
    ),
    "excel-workbook": Refused(
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe",
        ("is a spreadsheet workbook (.xlsx/.xls), not text: save it as 'CSV UTF-8'",),
        file_name="ligands.xlsx",
    ),
    # A file that cannot be read (here: the kernel refuses to read a process's memory there).
    "unreadable-file": Refused(
        config={"ligands": "/proc/self/mem"},
        says=("ligand sheet '/proc/self/mem' cannot be read: [Errno 5] Input/output error",),
    ),
    # The names.
    "duplicate-names": Refused(
        b"name,smiles\nA,CCO\nB,CCN\nA,CCC\n",
        ("line 4 (name 'A'): duplicate name; first used on line 2. Names must be unique",),
    ),
    "name-equal-to-another-names-id": Refused(
        f"name,smiles\na b,CCO\n{safe_ligand_id('a b')},CCN\n".encode(),
        (f"line 3 (name '{safe_ligand_id('a b')}'): its safe ID", "equals that of 'a b'"),
    ),
    "empty-name": Refused(b"name,smiles\nok,CCO\n,CCN\n", ("line 3: the name cell is empty",)),
    "newline-in-a-name": Refused(
        b'name,smiles\n"two\nlines",CCO\n',
        ("line 2 (name 'two\\nlines'): the name holds the control character U+000A",),
    ),
    "carriage-return-in-a-name": Refused(
        b'name,smiles\n"a\rb",CCO\n', ("line 2 (name 'a\\rb')", "control character U+000D")
    ),
    "tab-in-a-name": Refused(b"name,smiles\na\tb,CCO\n", ("control character U+0009",)),
    # A terminal escape sequence would recolour or rewrite the lines of a log viewed in one.
    "escape-sequence-in-a-name": Refused(
        b"name,smiles\n\x1b[2Jred,CCO\n", ("line 2 (name '\\x1b[2Jred')", "U+001B")
    ),
    # One name in two Unicode forms (NFD: 'e' and a combining accent, as macOS writes it).
    "one-name-in-nfc-and-nfd": Refused(
        "name,smiles\ncafé,CCO\ncafe\u0301,CCN\n".encode(),
        ("line 3 (name 'café'): duplicate name; first used on line 2",),
    ),
    "full-width-name-like-another": Refused(
        "name,smiles\nABC-1,CCO\nＡＢＣ－１,CCN\n".encode(),
        ("line 3 (name 'ＡＢＣ－１'): the name looks the same as 'ABC-1' on line 2",),
    ),
    "name-with-a-zero-width-space-like-another": Refused(
        "name,smiles\nabc,CCO\nab\u200bc,CCN\n".encode(),
        ("the name looks the same as 'abc' on line 2",),
    ),
    "zero-width-only-name": Refused(
        "name,smiles\n\u200b\u200d,CCO\n".encode(),
        ("line 2 (name '\\u200b\\u200d'): the name shows nothing", "U+200B U+200D"),
    ),
    "blank-letter-name": Refused(
        "name,smiles\n\u3164,CCO\n".encode(), ("the name shows nothing", "U+3164")
    ),
    "nul-in-a-name": Refused(
        b"name,smiles\nok,CCO\nnul\x00here,CCN\n",
        ("line 3, column 1: holds a NUL byte", "Save it as 'CSV UTF-8'"),
    ),
    "nul-in-an-extra-column": Refused(
        b"name,smiles,note\nok,CCO,a\x00\n", ("line 2, column 3: holds a NUL byte",)
    ),
    # The limits (a configurable size, refused before reading: see also the 2 GB test).
    "sheet-over-the-configured-size": Refused(
        GOOD_SHEET,
        (f"({len(GOOD_SHEET)} bytes), more than limits.sheet_max_bytes ({len(GOOD_SHEET) - 1} ",),
        config={"limits": {"sheet_max_bytes": len(GOOD_SHEET) - 1}},
    ),
    "protein-with-invalid-letters": Refused(
        config={"proteins": [{"name": "P1", "sequence": "MKT1AYZ*"}]},
        says=("config key 'proteins[0].sequence': invalid amino-acid letter(s) '*', '1'",),
    ),
    # Python's upper() makes 'ß' 'SS' and 'ﬁ' 'FI': 13 characters would become 15 residues.
    "protein-with-letters-unicode-would-case-fold": Refused(
        config={"proteins": [{"name": "P1", "sequence": "MKTſßıﬁAYIAKQ"}]},
        says=(
            "config key 'proteins[0].sequence': invalid amino-acid letter(s) 'ß' (U+00DF), "
            "'ı' (U+0131), 'ſ' (U+017F), 'ﬁ' (U+FB01) (first at position 4)",
        ),
    ),
    "protein-empty": Refused(
        config={"proteins": [{"name": "P1", "sequence": " \n"}]},
        says=("config key 'proteins[0].sequence': the sequence is empty",),
    ),
    "protein-longer-than-the-default-limit": Refused(
        config={"proteins": [{"name": "big", "sequence": "A" * 2001}]},
        says=(
            "config key 'proteins[0].sequence': protein 'big' has 2,001 residues, more than "
            "limits.protein_max_residues (2,000)",
        ),
    ),
    "protein-longer-than-the-configured-limit": Refused(
        config={
            "proteins": [{"name": "P1", "sequence": PROTEIN}, {"name": "P2", "sequence": "A" * 9}],
            "limits": {"protein_max_residues": 10},
        },
        says=("config key 'proteins[0].sequence': protein 'P1' has 20 residues",),
    ),
    # Config values of the wrong type.
    "shard-size-as-text": Refused(
        config={"sharding": {"shard_size": "ten"}},
        says=("config key 'sharding.shard_size': Input should be a valid integer",),
    ),
    "affinity-not-a-boolean": Refused(
        config={"model": {"affinity": "maybe"}},
        says=("config key 'model.affinity': Input should be a valid boolean",),
    ),
    "proteins-not-a-list": Refused(
        config={"proteins": "P1"}, says=("config key 'proteins': Input should be a valid list",)
    ),
    "section-not-a-mapping": Refused(
        config={"runtime": ["cpu"]},
        says=("config key 'runtime': Input should be a valid dictionary",),
    ),
    "limit-not-a-number": Refused(
        config={"limits": {"sheet_max_bytes": "1GB"}},
        says=("config key 'limits.sheet_max_bytes': Input should be a valid integer",),
    ),
    "seed-with-a-command": Refused(
        config={"model": {"seed": "0; rm -rf ~"}},
        says=("config key 'model.seed': Input should be a valid integer",),
    ),
    # Numbers out of their range (each range: config/README.md). YAML reads `.inf`, `.nan`
    # and `1e400` as floats; an unbounded count reaches Boltz or the cost estimate.
    "infinite-msa-timeout": Refused(
        config={"runtime": {"msa_timeout_s": float("inf")}},
        says=("config key 'runtime.msa_timeout_s': Input should be a finite number",),
    ),
    "infinite-step-scale": Refused(
        config={"model": {"step_scale": float("inf")}},
        says=("config key 'model.step_scale': Input should be a finite number",),
    ),
    "infinite-budget": Refused(
        config={"cost": {"budget_usd": float("inf")}},
        says=("config key 'cost.budget_usd': Input should be a finite number",),
    ),
    "nan-price": Refused(
        config={"cost": {"gpu_hourly_usd": float("nan")}},
        says=("config key 'cost.gpu_hourly_usd': Input should be a finite number",),
    ),
    "a-million-devices": Refused(
        config={"runtime": {"devices": 10**6}},
        says=("config key 'runtime.devices': Input should be less than or equal to 16",),
    ),
    "a-million-workers": Refused(
        config={"runtime": {"num_workers": 10**6}},
        says=("config key 'runtime.num_workers': Input should be less than or equal to 64",),
    ),
    "a-million-parallel-samples": Refused(
        config={"model": {"max_parallel_samples": 10**6}},
        says=("config key 'model.max_parallel_samples': Input should be less than or equal to 50",),
    ),
    "seed-beyond-boltz": Refused(
        config={"model": {"seed": 2**63}},
        says=("config key 'model.seed': Input should be less than or equal to 4294967295",),
    ),
    "negative-seed": Refused(
        config={"model": {"seed": -1}},
        says=("config key 'model.seed': Input should be greater than or equal to 0",),
    ),
    "replicate-seeds-beyond-boltz": Refused(
        config={"model": {"seed": 2**32 - 2, "replicates": 3}},
        says=("`replicates: 3` seeds up to `seed + 2`, more than 4294967295",),
    ),
    "chain-id-with-a-slash": Refused(
        config={
            "proteins": [
                {"name": "P1", "chains": [{"id": "A/B", "sequence": PROTEIN, "msa": "empty"}]}
            ]
        },
        says=(
            "config key 'proteins[0].chains[0].id': 'A/B' is not a chain id: a chain id is 1-4 "
            "letters or digits (A, B, H1)",
        ),
    ),
    "misspelt-key": Refused(
        config={"model": {"samping_steps": 2}},
        says=("config key 'model.samping_steps': unknown key",),
    ),
    # Names that become directories and file names.
    "screen-name-escaping-results": Refused(
        config={"screen": {"name": "../../etc"}},
        says=("config key 'screen.name': '../../etc' must be 1-64 letters",),
    ),
    "screen-name-absolute": Refused(
        config={"screen": {"name": "/tmp/x"}}, says=("config key 'screen.name': '/tmp/x' must",)
    ),
    "screen-name-with-a-trailing-newline": Refused(
        config={"screen": {"name": "s1\n"}}, says=("config key 'screen.name': 's1\\n' must",)
    ),
    "protein-name-escaping-results": Refused(
        config={"proteins": [{"name": "../P1", "sequence": PROTEIN}]},
        says=("config key 'proteins[0].name': '../P1' must be 1-64 letters",),
    ),
    "protein-name-with-a-command": Refused(
        config={"proteins": [{"name": "$(touch pwned)", "sequence": PROTEIN}]},
        says=("config key 'proteins[0].name': '$(touch pwned)' must",),
    ),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_refused_at_planning_naming_the_line_column_or_key(tmp_path, case):
    raw = screen_config(tmp_path, case.sheet, case.file_name, **case.config)
    message = refusal(raw)
    for expected in case.says:
        assert expected in message, message
    # Nothing was planned, so no validated sheet was cached in the store either.
    assert not list((tmp_path / "store").glob("sheets/*"))


# ---- Credentials in the config (docs/reliability.md, "Secrets") ----

CREDENTIALS_IN_CONFIG = {
    "password-key": (
        {"runtime": {"msa_server_password": "hunter2"}},
        "runtime.msa_server_password",
    ),
    "api-key": ({"runtime": {"api_key": "hunter2"}}, "runtime.api_key"),
    "token-at-the-top": ({"token": "hunter2"}, "token"),
    "user-and-password-in-a-url": (
        {"runtime": {"msa_server_url": "https://me:hunter2@msa.example.org"}},
        "runtime.msa_server_url",
    ),
    "token-in-a-url-query": (
        {"runtime": {"msa_server_url": "https://msa.example.org/?token=hunter2"}},
        "runtime.msa_server_url",
    ),
    "url-with-credentials-in-a-store": (
        {"store": "gs://me:hunter2@bucket/store"},
        "store",
    ),
}


@pytest.mark.parametrize(
    ("overrides", "key"), CREDENTIALS_IN_CONFIG.values(), ids=CREDENTIALS_IN_CONFIG.keys()
)
def test_a_credential_in_the_config_is_refused_without_repeating_it(tmp_path, overrides, key):
    raw = screen_config(tmp_path, GOOD_SHEET)
    for section, value in overrides.items():
        raw[section] = raw.get(section, {}) | value if isinstance(value, dict) else value
    message = refusal(raw)
    assert f"config key '{key}'" in message
    assert "credentials come only from environment variables" in message
    assert "OMTX_MSA_API_KEY" in message and "config/README.md, 'Credentials'" in message
    assert "hunter2" not in message


def test_ordinary_urls_and_keys_are_not_taken_for_credentials(tmp_path):
    raw = screen_config(
        tmp_path,
        GOOD_SHEET,
        runtime={"msa_server_url": "https://msa.example.org:8443/api?mode=env"},
        screen={"name": "s1", "description": "token-bucket kinases, see https://example.org/a"},
    )
    assert plan(raw).config.runtime.msa_server_url.startswith("https://msa.example.org")


# ---- Handled safely ----

# Distinct compounds, so that every name is a target of its own.
SMILES = [
    "CCO",
    "CCN",
    "CCC",
    "CCCl",
    "c1ccccc1",
    "CC(=O)O",
    "OCCO",
    "CCOC",
    "CNC",
    "CC#N",
    "CCCO",
    "CCCN",
    "CCCC",
    "c1ccncc1",
    "CC(C)O",
    "OC(=O)CO",
]


def test_hostile_names_are_data_and_their_files_stay_inside_the_screens_results(tmp_path):
    raw = screen_config(tmp_path, hostile_sheet(SMILES))
    planned = plan(raw)
    ligands = planned.ligands
    assert list(ligands["name"]) == HOSTILE_NAMES  # kept verbatim, for display
    assert all(SAFE_ID.fullmatch(i) for i in ligands["ligand_id"])
    assert ligands["ligand_id"].is_unique
    paths = planned_paths(planned)
    assert len(paths) == 2 * len(planned.shards) + len(HOSTILE_NAMES)
    for path in paths:
        assert inside_the_screens_results(path, "s1"), path
    # A second plan reads the validated sheet from the store's cache: the same names.
    again = plan(raw)
    assert list(again.ligands["name"]) == HOSTILE_NAMES
    assert list(again.ligands["ligand_id"]) == list(ligands["ligand_id"])


def test_a_300_character_name_gets_a_short_unique_id(tmp_path):
    rows = f"{'x' * 300},CCO\n{'x' * 299}y,CCN\n"
    ligands = plan(screen_config(tmp_path, b"name,smiles\n" + rows.encode())).ligands
    assert ligands["name"][0] == "x" * 300
    assert [len(i) for i in ligands["ligand_id"]] == [64, 64]
    assert ligands["ligand_id"].is_unique


@pytest.mark.parametrize(
    ("sheet", "names", "extra"),
    [
        # Byte-order mark and Windows line endings, as spreadsheet exports write them.
        (
            UTF8_BOM + b"name,smiles,note\r\nasp,CCO,x\r\n\r\neth,CCN,y\r\n",
            ["asp", "eth"],
            ["x", "y"],
        ),
        # Quoted commas (and quotes) in cells.
        (b'name,smiles,note\n"a, b",CCO,"1, ""2"""\n', ["a, b"], ['1, "2"']),
        # A carriage return or line break inside a quoted cell of the sheet's own columns.
        (
            b'name,smiles,note\na,CCO,"one\rtwo"\nb,CCN,"three\r\nfour"\n',
            ["a", "b"],
            ["one\rtwo", "three\r\nfour"],
        ),
        # Texts that look like numbers or missing values stay text.
        (b"name,smiles,note\n1e5,CCO,NA\n007,CCN,\n", ["1e5", "007"], ["NA", ""]),
    ],
    ids=["bom-and-crlf", "quoted-commas", "line-breaks-in-other-cells", "number-like-text"],
)
def test_spreadsheet_exports_are_read_as_written(tmp_path, sheet, names, extra):
    raw = screen_config(tmp_path, sheet)
    for attempt in ("validated", "from the store's cache"):
        ligands = plan(raw).ligands
        assert list(ligands["name"]) == names, attempt
        assert list(ligands["note"]) == extra, attempt


@contextmanager
def opened_files():
    """The paths opened (Python's audit event 'open') while the block runs."""
    opened: list[str] = []
    _OPEN_LISTENERS.append(opened)
    try:
        yield opened
    finally:
        _OPEN_LISTENERS.remove(opened)


_OPEN_LISTENERS: list[list[str]] = []


def _record_open(event: str, arguments: tuple) -> None:
    if event == "open" and _OPEN_LISTENERS and isinstance(arguments[0], str | Path):
        for listener in _OPEN_LISTENERS:
            listener.append(str(Path(arguments[0]).resolve()))


sys.addaudithook(_record_open)  # (audit hooks cannot be removed; it records only when asked)


def test_a_2_gb_sheet_is_refused_by_its_size_without_being_read(tmp_path):
    raw = screen_config(tmp_path, b"")
    sheet = Path(raw["ligands"])
    with open(sheet, "wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: no 2 GB written
    with opened_files() as opened:
        message = refusal(raw)
    assert (
        f"ligand sheet '{sheet}' is 2,048.0 MiB (2,147,483,648 bytes), more than "
        "limits.sheet_max_bytes (268,435,456 bytes)"
    ) in message
    assert "split it into several screens, or raise the limit" in message
    assert str(sheet.resolve()) not in opened  # not read, not hashed


def test_a_sheet_at_the_size_limit_is_read(tmp_path):
    raw = screen_config(tmp_path, GOOD_SHEET, limits={"sheet_max_bytes": len(GOOD_SHEET)})
    assert plan(raw).target_count == 1


def test_a_protein_at_the_length_limit_is_planned(tmp_path):
    raw = screen_config(
        tmp_path,
        GOOD_SHEET,
        proteins=[{"name": "P1", "sequence": "A" * 30}],
        limits={"protein_max_residues": 30},
    )
    assert plan(raw).target_count == 1


def test_a_fifo_as_the_sheet_is_named_as_such_without_being_opened(tmp_path):
    """Opening a FIFO for reading blocks until something writes to it: planning must say what
    it is instead, at once."""
    raw = screen_config(tmp_path, b"")
    sheet = Path(raw["ligands"])
    sheet.unlink()
    os.mkfifo(sheet)
    outcome: list[str] = []
    planning = threading.Thread(target=lambda: outcome.append(refusal(raw)), daemon=True)
    planning.start()
    planning.join(timeout=60)
    if planning.is_alive():  # blocked on the FIFO: unblock it, then fail
        with open(sheet, "wb"):
            pass
        pytest.fail("planning blocked opening the FIFO")
    assert f"ligand sheet '{sheet}' is a FIFO (a named pipe), not a file" in outcome[0]


SERVICE_ACCOUNT_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
)
CREDENTIAL_FILES = {
    "google-service-account": (
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p",
                "private_key_id": "0123abcd",
                "private_key": SERVICE_ACCOUNT_KEY,
                "client_email": "x@p.iam.gserviceaccount.com",
            },
            indent=2,
        ),
        "(a Google service-account key)",
    ),
    # On one line, the header: its cells were listed as the columns found, private key and all.
    "google-service-account-on-one-line": (
        json.dumps({"type": "service_account", "private_key": SERVICE_ACCOUNT_KEY}),
        "(a Google service-account key)",
    ),
    "pem-private-key": (SERVICE_ACCOUNT_KEY, "(it holds a private key)"),
    "aws-credentials": (
        "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n",
        "(it has a field named like a credential, 'aws_access_key_id')",
    ),
    "dotenv": (
        "OMTX_MSA_API_KEY=hunter2secret\n",
        "(it has a field named like a credential, 'OMTX_MSA_API_KEY')",
    ),
}


@pytest.mark.parametrize(
    ("content", "kind"), CREDENTIAL_FILES.values(), ids=CREDENTIAL_FILES.keys()
)
def test_a_credentials_file_as_the_sheet_is_recognised_and_never_shown(tmp_path, content, kind):
    for suffix in (".csv", ".json"):
        raw = screen_config(tmp_path, content.encode(), f"sheet{suffix}")
        message = refusal(raw)
        assert "looks like a credentials file " + kind in message, message
        assert "not a ligand sheet: check ligands.sheet" in message
        for secret in ("MIIEvQIBADAN", "0123abcd", "wJalrXUtnFEMI", "AKIAIOSFODNN7", "hunter2"):
            assert secret not in message
        assert not list((tmp_path / "store").rglob("*.tsv"))


def test_a_sheet_with_words_of_credentials_in_it_is_a_sheet(tmp_path):
    sheet = b"name,smiles,api_key\ntoken:1,CCO,secret=x\npassword,CCN,\n"
    ligands = plan(screen_config(tmp_path, sheet)).ligands
    assert list(ligands["name"]) == ["token:1", "password"]


def test_names_are_kept_in_nfc_and_as_typed_otherwise(tmp_path):
    """One Unicode form (NFC) for a name typed in another (NFD, as macOS writes it); nothing
    else changes: full-width letters, direction marks and case stay as typed."""
    sheet = "name,smiles\ncafe\u0301,CCO\nＡＢＣ,CCN\n\u200fRLM,CCC\nabc,CCCC\n".encode()
    ligands = plan(screen_config(tmp_path, sheet)).ligands
    assert list(ligands["name"]) == ["caf\u00e9", "ＡＢＣ", "\u200fRLM", "abc"]
    assert ligands["ligand_id"][0] == safe_ligand_id("caf\u00e9")


def test_a_sheet_at_the_width_limit_is_read(tmp_path):
    header = ",".join(["name", "smiles", *(f"c{i}" for i in range(MAX_COLUMNS - 2))])
    rows = "".join(
        f"l{i},{s}," + ",".join(["1"] * (MAX_COLUMNS - 2)) + "\n" for i, s in enumerate(SMILES)
    )
    ligands = plan(screen_config(tmp_path, f"{header}\n{rows}".encode())).ligands
    assert len(sheet_own_columns(ligands.columns)) == MAX_COLUMNS - 2
    assert ligands[f"c{MAX_COLUMNS - 3}"].tolist() == ["1"] * len(SMILES)


# ---- No shell anywhere ----

SOURCES = [
    path
    for directory in ("omtx_hub", "omtx_report", "workflow/scripts")
    for path in sorted((REPO / directory).rglob("*.py"))
]
SHELL_FUNCTIONS = {"system", "popen", "getoutput", "getstatusoutput"}


def shell_calls(tree: ast.AST) -> list[str]:
    """Calls in `tree` that hand a command line to a shell."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        shell = any(
            k.arg == "shell" and not (isinstance(k.value, ast.Constant) and not k.value.value)
            for k in node.keywords
        )
        text_command = name in {"run", "call", "Popen", "check_call", "check_output"} and (
            node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr | ast.BinOp)
        )
        if shell or name in SHELL_FUNCTIONS or text_command:
            found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_module_or_script_runs_a_shell():
    """Boltz, git and the rest run as argument lists, so no sheet text is ever parsed by a
    shell; the workflow's rules run scripts (tests/workflow/test_hostile_screen.py)."""
    assert len(SOURCES) > 30
    found = {str(p): shell_calls(ast.parse(p.read_text())) for p in SOURCES}
    assert {path: calls for path, calls in found.items() if calls} == {}
    rules = [REPO / "workflow/Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]
    assert not [p.name for p in rules if re.search(r"^\s*shell:", p.read_text(), re.M)]


def test_the_shell_check_finds_shell_calls():
    examples = [
        "subprocess.run('ls ' + name, shell=True)",
        "os.system(f'touch {name}')",
        "subprocess.check_output(f'boltz predict {path}')",
    ]
    for example in examples:
        assert shell_calls(ast.parse(example)), example
    assert not shell_calls(ast.parse("subprocess.run(['boltz', 'predict', path], shell=False)"))
