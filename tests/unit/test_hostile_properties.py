"""Random sheets and configs through planning: a clean error or a valid plan, nothing else.

Hypothesis draws sheets (random bytes; or headers, cells and quoting drawn from hostile
fragments, any Unicode text and real SMILES, in several encodings) and configs (a valid one
with random keys set to random values, or deleted), plans them as the workflow does at parse
time, and asserts:
- planning raises SheetError or ConfigError (any other exception is a traceback the user
  would see), or returns a plan;
- every file name the plan decides lies under results/<screen>/, made of safe characters;
- the sheet's names and cells reach the plan unchanged, also when read back from the store's
  cache of the validated sheet;
- the sheet's SMILES reach Boltz as YAML data in files named by the target's key (no rule
  or module runs a shell: tests/unit/test_hostile_input.py and
  tests/workflow/test_hostile_screen.py).

Runs in CI are deterministic: the "ci" settings (the default) derandomize Hypothesis, so every
run tries the same examples (derived from each test's source) and writes no example database;
a failure there replays as it is. OMTX_HYPOTHESIS_PROFILE=explore draws new random examples,
ten times as many, keeping failures in .hypothesis/ to replay them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
import unicodedata
from pathlib import Path

import pandas as pd
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from snakemake.common.configfile import load_configfile

from omtx_hub.boltz_io import boltz_record_id
from omtx_hub.boltz_schema import input_document
from omtx_hub.config import ConfigError
from omtx_hub.config_files import merged_config_files
from omtx_hub.plan import Plan
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.sheet import SheetError
from tests.bounds import within_seconds
from tests.hostile import (
    PROTEIN,
    SAFE_ID,
    inside_the_screens_results,
    plan,
    planned_paths,
    screen_config,
)

# Each example writes a sheet and plans it twice (tens of milliseconds): no deadline.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
PROFILES = {
    "ci": settings(max_examples=150, derandomize=True, database=None, **_COMMON),
    "explore": settings(max_examples=1500, **_COMMON),
}
PROFILE = PROFILES[os.environ.get("OMTX_HYPOTHESIS_PROFILE", "ci")]
RECORD_ID = re.compile(r"t[0-9a-f]{24}")
GOOD_SHEET = b"name,smiles\naspirin,CC(=O)Oc1ccccc1C(=O)O\nethanol,CCO\n"

HOSTILE_FRAGMENTS = [
    "../",
    "/",
    "\\",
    "..",
    "~",
    "$(touch pwned)",
    "`id`",
    ";",
    "|",
    "&",
    "'",
    '"',
    ",",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\x1b[2J",
    "\u202e",
    "\u200f",
    "\ufeff",
    " ",
    "*",
    "{0}",
    "%s",
    "<script>",
    "é",
    "名",
    "x" * 300,
]
SMILES = ["CCO", "CCN", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "OCC", "C1CC", "[Na+].[Cl-]", "*C"]
COLUMNS = ["name", "smiles", "Name", "SMILES", "note", "index", "", " name "]

text = st.one_of(
    st.sampled_from(HOSTILE_FRAGMENTS),
    st.text(max_size=12),
    st.lists(st.sampled_from(HOSTILE_FRAGMENTS), max_size=4).map("".join),
)
cell = st.one_of(text, st.sampled_from(SMILES))


# Names a chemist might really write, hostile ones included: any printable text.
printable = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20)
PRINTABLE_FRAGMENTS = [f for f in HOSTILE_FRAGMENTS if f.isprintable() or f in ("\u202e", "\u200f")]
plausible_name = st.one_of(
    printable, st.lists(st.sampled_from(PRINTABLE_FRAGMENTS), min_size=1, max_size=4).map("".join)
)
VALID_SMILES = ["CCO", "CCN", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "OCC", "C[C@H](N)C(=O)O"]


@st.composite
def sheet_files(draw) -> tuple[bytes, str]:
    """(the file's bytes, its name): random bytes; a random table; or a sheet that should
    plan, with printable names (hostile ones too), real SMILES and random extra cells."""
    suffix = draw(st.sampled_from([".csv", ".tsv"]))
    kind = draw(st.sampled_from(["plausible", "plausible", "table", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200)), f"ligands{suffix}"
    if kind == "plausible":
        extra = draw(st.lists(printable, max_size=2, unique=True))
        header = ["name", "smiles", *(f"x-{column}" for column in extra)]
        names = draw(st.lists(plausible_name, min_size=1, max_size=6, unique_by=str.strip))
        rows = [
            [name, draw(st.sampled_from(VALID_SMILES)), *draw(st.lists(cell, max_size=len(extra)))]
            for name in names
        ]
    else:
        header = draw(
            st.one_of(
                st.just(["name", "smiles"]),
                st.lists(st.one_of(st.sampled_from(COLUMNS), text), min_size=1, max_size=4),
            )
        )
        row = st.one_of(
            st.tuples(st.one_of(text, st.sampled_from(["a", "b"])), cell).map(list),
            st.lists(cell, max_size=len(header) + 1),
        )
        rows = draw(st.lists(row, max_size=6))
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter="\t" if suffix == ".tsv" else ",",
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
    )
    writer.writerows([header, *rows])
    encodings = ["utf-8", "utf-8-sig"] + (
        ["utf-16", "latin-1", "cp1252"] if kind == "table" else []
    )
    encoding = draw(st.sampled_from(encodings))
    return buffer.getvalue().encode(encoding, errors="replace"), f"ligands{suffix}"


# Keys of the config, by location, and random values to put there.
KEYS = [
    ("screen", "name"),
    ("screen", "description"),
    ("proteins",),
    ("proteins", 0, "name"),
    ("proteins", 0, "sequence"),
    ("proteins", 0, "msa"),
    ("ligands",),
    ("model", "sampling_steps"),
    ("model", "affinity"),
    ("model", "seed"),
    ("runtime", "accelerator"),
    ("runtime", "cache"),
    ("runtime", "checkpoint"),
    ("runtime", "msa_server_url"),
    ("runtime", "msa_api_key"),
    ("sharding", "shard_size"),
    ("report", "top_n"),
    ("cost", "budget_usd"),
    ("limits", "sheet_max_bytes"),
    ("limits", "protein_max_residues"),
    ("store",),
]
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.sampled_from(["server", "empty", "cpu", "x.a3m", PROTEIN, "0"]),
)
value = st.one_of(leaf, st.lists(leaf, max_size=3), st.dictionaries(text, leaf, max_size=2))
# Values that mean something somewhere: each is tried at every key, exhaustively.
SPECIAL_VALUES = [
    None,
    True,
    0,
    -1,
    2**63,
    float("nan"),
    float("inf"),
    "",
    "0",
    "ten",
    "1e3",
    [],
    {},
    ["x"],
    {"name": "x"},
    "server",
    "x.a3m",
    "/dev/zero",
    "/",
    "..",
    "../../etc",
    "~",
    "~no_such_user/x.ckpt",
    "a\x00b",
    "s1\n",
    "\x1b[2J",
    "$(touch pwned)",
    "https://u:p@msa.example.org",
    "https://msa.example.org/?token=t",
    "A" * 2500,
    "x" * 300,
]
mutation = st.tuples(st.one_of(st.sampled_from(KEYS), st.tuples(text)), st.none() | value)


def mutated(raw: dict, mutations: list) -> dict:
    """`raw` with each (location, value) set; a value None deletes the key instead. A
    location whose parent is missing or of another kind is skipped."""
    for location, new in mutations:
        parent = raw
        for part in location[:-1]:
            parent = _child(parent, part, create=True)
        last = location[-1]
        if isinstance(parent, dict) and new is None:
            parent.pop(last, None)
        elif _child(parent, last, create=False) is not _MISSING or isinstance(parent, dict):
            parent[last] = new
    return raw


_MISSING = object()


def _child(parent, part, *, create: bool):
    if isinstance(parent, dict):
        return parent.setdefault(part, {}) if create else parent.get(part, _MISSING)
    if isinstance(parent, list) and isinstance(part, int) and part < len(parent):
        return parent[part]
    return _MISSING


def local_only(mutations: list) -> list:
    """Stores stay local directories: a gs:// store would reach for Google's servers."""
    return [
        (where, new) for where, new in mutations if not (where == ("store",) and "://" in str(new))
    ]


@contextlib.contextmanager
def scratch_directory():
    """A fresh working directory for one example: relative paths in random configs (a store,
    a sheet) land there, never in the repository."""
    with (
        tempfile.TemporaryDirectory(prefix="omtx-hostile-") as directory,
        contextlib.chdir(directory),
    ):
        yield Path(directory)


def check_error(error: Exception) -> None:
    message = str(error)
    assert message.startswith(("ligand sheet '", "Invalid screen configuration:")), message
    if isinstance(error, SheetError):
        # Sheet text is shown escaped (repr), so a terminal shows no control sequence from it.
        assert not any(ord(c) < 32 and c != "\n" for c in message), repr(message)


def check_plan(planned: Plan, sheet_names: list[str] | None = None) -> None:
    ligands = planned.ligands
    assert ligands["ligand_id"].map(lambda i: SAFE_ID.fullmatch(i) is not None).all()
    assert ligands["ligand_id"].is_unique
    for path in planned_paths(planned):
        assert inside_the_screens_results(path, planned.screen), path
    if sheet_names is not None:
        assert list(ligands["name"]) == sheet_names
    # What reaches Boltz from the sheet: input files named by the key, holding the canonical
    # SMILES as YAML data (the command line is built from the config alone: predict.py).
    for shard in planned.shards.values():
        for target in shard.targets:
            assert RECORD_ID.fullmatch(boltz_record_id(target.key))
            document = input_document(
                ReceptorSpec.single_chain(PROTEIN), {"A": "empty"}, target.smiles, affinity=True
            )
            assert yaml.safe_load(yaml.safe_dump(document)) == document


def count(outcome: str) -> None:
    """Tally an outcome in Hypothesis's statistics (pytest --hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(outcome)


def plan_twice(raw: dict) -> Plan | None:
    """The plan of `raw` twice (the second reads the validated sheet from the store's
    cache, as every later run and every remote job does): None after a clean error."""
    try:
        first = plan(raw)
    except (SheetError, ConfigError) as error:
        check_error(error)
        count(f"refused: {type(error).__name__}")
        return None
    count("planned")
    second = plan(raw)
    pd.testing.assert_frame_equal(first.ligands, second.ligands, check_dtype=False)
    assert first.shards == second.shards
    return first


def names_in(sheet: bytes) -> list[str] | None:
    """The stripped names of a UTF-8 CSV sheet, read by the csv module on its own, in NFC."""
    try:
        rows = list(csv.reader(io.StringIO(sheet.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return None
    rows = [row for row in rows if row]
    header = [column.strip() for column in rows[0]]
    if "name" not in header:
        return None
    # Kept in NFC, the one form of each accented letter (omtx_hub.sheet).
    return [unicodedata.normalize("NFC", row[header.index("name")].strip()) for row in rows[1:]]


@PROFILE
@given(sheet=sheet_files())
def test_a_random_sheet_gives_a_clean_error_or_a_safe_plan(sheet):
    data, file_name = sheet
    with scratch_directory() as directory:
        planned = plan_twice(screen_config(directory, data, file_name))
        if planned is not None:
            expected = names_in(data) if file_name.endswith(".csv") else None
            check_plan(planned, expected)


def test_every_key_with_every_special_value_gives_a_clean_error_or_a_safe_plan():
    for location in KEYS:
        for special in SPECIAL_VALUES:
            with scratch_directory() as directory:
                raw = mutated(screen_config(directory, GOOD_SHEET), [(location, special)])
                try:
                    planned = plan_twice(raw)
                except Exception as error:
                    raise AssertionError(f"{location} = {special!r}: {error!r}") from error
                if planned is not None:
                    check_plan(planned)


@PROFILE
@given(sheet=sheet_files(), mutations=st.lists(mutation, max_size=4))
def test_a_random_config_gives_a_clean_error_or_a_safe_plan(sheet, mutations):
    data, file_name = sheet
    with scratch_directory() as directory:
        raw = mutated(screen_config(directory, data, file_name), local_only(mutations))
        planned = plan_twice(raw)
        if planned is not None:
            check_plan(planned)


# ---- Random config files (docs/reliability.md, "The config files") ----
#
# Planning reads each config file with omtx_hub.config_files before anything walks what it
# holds (workflow/Snakefile, the CLI): a file is drawn as a valid screen's YAML with hostile
# parts added (alias bombs, deep nesting, duplicate keys, tags, numbers out of range, any
# Unicode, huge values, random bytes, other encodings), read and planned as a run does it,
# within a time bound.

NUMBER_KEYS = [
    ("model", "seed"),
    ("model", "step_scale"),
    ("model", "max_parallel_samples"),
    ("model", "replicates"),
    ("runtime", "devices"),
    ("runtime", "num_workers"),
    ("runtime", "msa_timeout_s"),
    ("cost", "budget_usd"),
    ("cost", "gpu_hourly_usd"),
    ("sharding", "shard_size"),
    ("limits", "sheet_max_bytes"),
]
YAML_NUMBERS = [
    ".inf",
    "-.inf",
    ".nan",
    ".NaN",
    "1e400",
    "-1",
    "0",
    "1",
    "3.5",
    "0x10",
    "0o17",
    "1_000",
    "9" * 30,
    str(2**63),
    "4294967295",
    "1e3",
    "+12",
    "null",
]
TAGS = [
    "!!python/object/apply:os.system [echo pwned]",
    "!!python/object:os.system {}",
    "!!python/name:os.system",
    "!!python/tuple [1, 2]",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!str 1",
    "!!int '3'",
    "!custom x",
    "! x",
    "!<tag:example.com,2000:x> y",
]
# YAML that parses but that the loader cannot build: a list as a key, an impossible date, a
# merge of a scalar.
ODD_YAML = ["? [a, b]\n: 1\n", "when: 2001-13-01\n", "merged: {<<: 1}\n"]
PLACES = ["extra", "screen.description", "model.seed", "proteins", "ligands", "store"]


def placed(place: str, value: str) -> tuple[str, str]:
    """(the top-level key, a YAML line) that puts the flow-style `value` at `place` (a key a
    screen has, or a key it does not)."""
    if place == "extra":
        return "extra", f"extra: {value}\n"
    if place == "screen.description":
        return "screen", f"screen: {{name: s1, description: {value}}}\n"
    if "." in place:
        section, key = place.split(".")
        return section, f"{section}: {{{key}: {value}}}\n"
    return place, f"{place}: {value}\n"


@st.composite
def hostile_parts(draw) -> tuple[str | None, str]:
    """One hostile part of a config file: (the top-level key it sets, which the file does not
    give otherwise, or None; its YAML lines, or raw text)."""
    kind = draw(
        st.sampled_from(
            ["bomb", "deep", "duplicate", "tag", "number", "unicode", "anchors", "huge", "raw"]
        )
    )
    count(f"config part: {kind}")
    if kind == "bomb":
        width, levels = draw(st.integers(2, 10)), draw(st.integers(1, 12))
        mapping = draw(st.booleans())
        lines = []
        for level in range(levels):
            item = f"*b{level - 1}" if level else "lol"
            items = [f"k{j}: {item}" if mapping else item for j in range(width)]
            body = "{" + ", ".join(items) + "}" if mapping else "[" + ", ".join(items) + "]"
            lines.append(f"b{level}: &b{level} {body}\n")
        key, line = placed(draw(st.sampled_from(PLACES)), f"*b{levels - 1}")
        return key, "".join(lines) + line
    if kind == "deep":
        depth = draw(st.one_of(st.integers(1, 40), st.integers(40, 6000)))
        style = draw(st.sampled_from(["list", "mapping", "block"]))
        if style == "block":
            lines = "".join(f"{'  ' * (i + 1)}k:\n" for i in range(depth))
            return "deep", "deep:\n" + lines + "  1\n"
        opening, closing = ("[", "]") if style == "list" else ("{a: ", "}")
        return placed(draw(st.sampled_from(PLACES)), opening * depth + "1" + closing * depth)
    if kind == "duplicate":
        key = draw(st.sampled_from(["screen", "proteins", "ligands", "store", "model"]))
        return None, f"{key}: {{}}\n" if draw(st.booleans()) else "model: {seed: 1, seed: 2}\n"
    if kind == "tag":
        return placed(draw(st.sampled_from(PLACES)), draw(st.sampled_from(TAGS)))
    if kind == "number":
        section, key = draw(st.sampled_from(NUMBER_KEYS))
        return section, f"{section}: {{{key}: {draw(st.sampled_from(YAML_NUMBERS))}}}\n"
    if kind == "unicode":
        mapping = {draw(st.text(max_size=8)): draw(st.text(max_size=40))}
        where = draw(st.sampled_from(["screen", "extra", "model"]))
        document = {where: mapping} if where != "screen" else {"screen": {"name": "s1", **mapping}}
        return where, yaml.safe_dump(document, allow_unicode=draw(st.booleans()))
    if kind == "anchors":
        # Aliases within the bound, as a user might write them: merges of shared settings.
        return "proteins", (
            "defaults: &defaults {sequence: " + PROTEIN + ", msa: empty}\n"
            "proteins: [{<<: *defaults, name: P1}, {<<: *defaults, name: P2}]\n"
        )
    if kind == "huge":
        size = draw(st.sampled_from([10, 10_000, 2 * 1024**2]))
        return "screen", f"screen: {{name: s1, description: {'x' * size}}}\n"
    return None, draw(st.text(max_size=60) | st.sampled_from(ODD_YAML))


@st.composite
def config_file_bytes(draw, directory: Path) -> bytes:
    """A config file: a valid screen's YAML (its sheet in `directory`) with 1-3 hostile
    parts, in UTF-8 (sometimes another encoding, or random bytes)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    valid = screen_config(directory, GOOD_SHEET)
    parts = draw(st.lists(hostile_parts(), min_size=1, max_size=3, unique_by=lambda p: p[0]))
    for key, _ in parts:
        valid.pop(key, None)
    # Block style at the top level (parts are added as top-level lines), flow or block below.
    base = yaml.safe_dump(
        valid, sort_keys=False, default_flow_style=draw(st.just(None) | st.just(False))
    )
    added = "".join(text for _, text in parts)
    text = base + added if draw(st.booleans()) else added + base
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-16"]))
    return text.encode(encoding, errors="surrogatepass")


def plan_config_file(path: Path) -> Plan | None:
    """Read and plan a config file as a run does; None after a clean error."""
    try:
        raw = merged_config_files([path])
    except ConfigError as error:
        check_error(error)
        count("refused: config file")
        return None
    # What the reader accepts, Snakemake's own loader reads the same.
    assert raw == load_configfile(path)
    return plan_twice(raw)


@PROFILE
@given(data=st.data())
def test_a_random_config_file_gives_a_clean_error_or_a_safe_plan_within_a_bound(data):
    with scratch_directory() as directory:
        path = directory / "screen.yaml"
        path.write_bytes(data.draw(config_file_bytes(directory)))
        with within_seconds(30, "planning a config file"):
            planned = plan_config_file(path)
        if planned is not None:
            check_plan(planned)
