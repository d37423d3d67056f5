"""One config loader for the CLI and the progress view: Snakemake's merge over the
workflow's config/config.yaml."""

import os

import pytest
import yaml
from snakemake.common.configfile import load_configfile

from omtx_hub import cli, plan  # noqa: F401 - plan imports RDKit, which sets $RDBASE, here
from omtx_hub.config import ConfigError, credential_problems
from omtx_hub.config_files import (
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    merged_config_files,
    read_config_file,
)
from tests.bounds import within_seconds
from tests.hostile_yaml import alias_bomb, nested_block_mappings


def write(path, mapping):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(mapping))
    return path


def test_files_merge_over_the_workflow_config_as_in_snakemake(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path / "config" / "config.yaml",
        {"screen": {"name": "demo", "description": "d"}, "proteins": [{"name": "A"}]},
    )
    screen = write(tmp_path / "screen.yaml", {"screen": {"name": "mine"}, "proteins": []})
    override = write(tmp_path / "more.yaml", {"model": {"seed": 3}})
    merged = merged_config_files([screen, override])
    # Mappings merge key by key; lists (and every other value) are replaced.
    assert merged == {
        "screen": {"name": "mine", "description": "d"},
        "proteins": [],
        "model": {"seed": 3},
    }


def test_without_a_workflow_config_only_the_files_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    screen = write(tmp_path / "screen.yaml", {"screen": {"name": "mine"}})
    assert merged_config_files([screen]) == {"screen": {"name": "mine"}}


# ---- The strict, bounded reader (omtx_hub.config_files; docs/reliability.md, "The config
# files") ----


REFUSED_FILES = {
    "a-key-twice": (
        "screen: {name: a}\nproteins: []\nscreen: {name: b}\n",
        "line 3: the key 'screen' is given twice in this mapping (first on line 1); YAML would "
        "keep only the last, silently: remove one",
    ),
    "a-nested-key-twice": ("model:\n  seed: 1\n  seed: 2\n", "line 3: the key 'seed' is given"),
    "a-boolean-key-twice": ("panel:\n  yes: A\n  true: B\n", "line 3: the key 'true' is given"),
    "a-json-key-twice": ('{"screen": 1, "screen": 2}', "line 1: the key 'screen' is given twice"),
    "python-object-tag": (
        "screen: !!python/object/apply:os.system [echo pwned]\n",
        "line 1: the tag '!!python/object/apply:os.system': tags are not allowed in a screen "
        "config",
    ),
    "python-name-tag": ("runtime: !!python/name:os.system\n", "the tag '!!python/name:os.system'"),
    "a-standard-tag": ("model: {seed: !!str 1}\n", "line 1: the tag '!!str'"),
    "a-local-tag": ("screen:\n  name: !custom a\n", "line 2: the tag '!custom'"),
    "list-alias-bomb": (
        alias_bomb("list"),
        "line 6: with its aliases ('*name') expanded, the config holds more than 100,000 "
        "values (a screen config holds hundreds): write the values out, or use fewer aliases",
    ),
    "mapping-alias-bomb": (alias_bomb("mapping"), "line 5: with its aliases ('*name') expanded"),
    "an-undefined-alias": ("screen: *nowhere\n", "line 1: the alias '*nowhere' names no anchor"),
    "a-list-5000-deep": (
        "x: " + "[" * 5000 + "]" * 5000 + "\n",
        "line 1: nests lists or mappings more than 32 levels deep (a screen config needs 6): "
        "check its brackets and indentation",
    ),
    "block-mappings-33-deep": (nested_block_mappings(33), "line 33: nests lists or mappings"),
    "json-5000-deep": ('{"x": ' + "[" * 5000 + "]" * 5000 + "}", "more than 32 levels deep"),
    "two-documents": ("screen: {name: a}\n---\nscreen: {name: b}\n", "line 2: a second YAML doc"),
    "not-utf-8": (
        b"screen: {description: caf\xe9}\n",
        "line 1: byte 26 of the file (0xE9) is not UTF-8: save the config as UTF-8",
    ),
    "utf-16": ("screen: {name: a}\n".encode("utf-16"), "is UTF-16 text: save the config as UTF-8"),
    "a-control-character": ("screen:\n  name: a\x1b[2J\n", "line 2: holds the character U+001B"),
    "empty": ("", "holds no mapping of keys at the top level (`screen:`, `proteins:`, ...): it is"),
    "a-list-at-the-top": ("- screen\n", "holds no mapping of keys at the top level"),
    "over-the-size-limit": (
        "screen: {name: a}\n#" + "x" * MAX_CONFIG_BYTES + "\n",
        "is 1,048,596 bytes, more than a screen config may be (1,048,576)",
    ),
    "not-yaml": ("screen: [a\n", "is not valid YAML"),
    "a-list-as-a-key": ("? [a]\n: 1\n", "is not valid YAML: while constructing a mapping"),
    "an-impossible-date": ("when: 2001-13-01\n", "holds a value YAML cannot read: month must"),
}


@pytest.mark.parametrize("case", REFUSED_FILES, ids=list(REFUSED_FILES))
def test_a_hostile_config_file_is_refused_naming_the_file_and_line(tmp_path, case):
    content, says = REFUSED_FILES[case]
    path = tmp_path / "screen.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with within_seconds(10, f"reading {case}"), pytest.raises(ConfigError) as refused:
        read_config_file(path)
    assert f"config file '{path}'" in str(refused.value)
    assert says in str(refused.value)


def test_a_directory_or_a_pipe_is_named_as_such(tmp_path):
    with pytest.raises(
        ConfigError, match="is a directory, not a file: give the path of a YAML or JSON"
    ):
        read_config_file(tmp_path)
    os.mkfifo(tmp_path / "pipe.yaml")
    with (
        within_seconds(10),
        pytest.raises(
            ConfigError, match=r"is a FIFO \(a named pipe\), not a file: give the path of a YAML"
        ),
    ):
        read_config_file(tmp_path / "pipe.yaml")


def test_limits_hold_exactly_at_the_bounds(tmp_path):
    deepest = tmp_path / "deepest.yaml"
    deepest.write_text(nested_block_mappings(MAX_DEPTH))
    assert read_config_file(deepest)["k0"]["k1"]
    # The values, aliases expanded: the top mapping (1), key `a` (1) and its list of 999 (1,000),
    # key `b` (1) and its list (1) of 98 aliases of a's list (98,000) and `extra` scalars.
    expanded = tmp_path / "aliases.yaml"
    for extra, accepted in [(996, True), (997, False)]:
        items = ["*a"] * 98 + ["x"] * extra
        expanded.write_text(f"a: &a [{', '.join(['x'] * 999)}]\nb: [{', '.join(items)}]\n")
        assert 4 + 999 + 1 + 98 * 1000 + extra == (100_000 if accepted else 100_001)
        if accepted:
            assert len(read_config_file(expanded)["b"]) == 98 + extra
        else:
            with pytest.raises(ConfigError, match="line 2: with its aliases"):
                read_config_file(expanded)


@pytest.mark.parametrize(
    "text",
    [
        "defaults: &defaults {sequence: MKT, msa: empty}\n"
        "proteins:\n  - {<<: *defaults, name: A}\n  - <<: *defaults\n    name: B\n",
        "proteins: [&p {name: A, sequence: MKT}, *p]\nselectivity: {target: A, anti_targets: B}\n",
        '{"screen": {"name": "s"}, "model": {"seed": 3, "step_scale": 1.5}}',
        "screen:\n  name: s # a comment\n  description: 'café 名前 ✓'\n",
    ],
    ids=["merge-keys", "an-aliased-protein", "json", "unicode"],
)
def test_a_file_it_accepts_reads_as_snakemake_reads_it(tmp_path, text):
    path = tmp_path / "screen.yaml"
    path.write_text(text, encoding="utf-8")
    assert read_config_file(path) == load_configfile(path)


def test_every_config_shipped_is_accepted_as_snakemake_reads_it(repo):
    shipped = sorted((repo / "config").rglob("*.yaml"))
    assert shipped
    for path in shipped:
        assert read_config_file(path) == load_configfile(path), path


def test_the_command_line_refuses_a_hostile_file_before_merging_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb("mapping"))
    with within_seconds(30, "omtx-hub estimate"):
        assert cli.main(["estimate", "--configfile", str(bomb)]) == 1
    assert f"config file '{bomb}', line 5: with its aliases" in capsys.readouterr().err


def test_the_credential_scan_visits_an_aliased_value_once():
    # What Snakemake's loader builds from an alias bomb: one object per level, shared 9 times
    # by the next (9**9 paths to the leaves).
    level: object = {"api_key": "x", "url": "https://u:p@example.org"}
    for _ in range(9):
        level = {f"k{j}": level for j in range(9)}
    with within_seconds(10, "the credential scan"):
        found = credential_problems({"screen": level})
    assert len(found) == 2
    assert ("screen", *["k0"] * 9, "api_key") in found
