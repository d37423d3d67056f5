"""Config files read strictly and within bounds, before anything walks what they hold.

Snakemake parses `--configfile` files and the workflow's config/config.yaml with its own
loader (PyYAML's FullLoader, through yte), which keeps the last of duplicate keys, builds
Python objects from `!!python/name:` tags and shares an aliased node instead of copying it:
a 1 KB file of nested aliases (an "alias bomb") becomes a few hundred nodes that mean
billions of values to anything that walks them. So planning reads each config file again
here, as a stream of YAML events (no object is built, nothing recurses), and refuses it,
naming the file and line, when it

- is not a regular file, is larger than MAX_CONFIG_BYTES or is not UTF-8;
- holds a tag (`!!python/object:...`, `!!str`, `!custom`): tags are not allowed in a
  screen config;
- gives a key twice in one mapping (YAML would keep only the last, silently);
- nests collections more than MAX_DEPTH levels deep;
- means more than MAX_EXPANDED_VALUES values once its aliases are expanded (aliases within
  that bound, `<<: *defaults` merges included, stay allowed).

The workflow runs `check_config_files` before its own `configfile:` directive (Snakemake
has loaded the `--configfile` files by then; workflow/Snakefile); the CLI reads config files
through `merged_config_files`. What Snakemake's own loader does first is in
docs/reliability.md, "The config files".
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from omtx_hub.config import WORKFLOW_CONFIG, ConfigError, invalid_config
from omtx_hub.paths import file_problem

# A screen config is a few KB; 100 proteins of 2,000 residues written out are 200 KB.
MAX_CONFIG_BYTES = 1024**2
# A screen config nests 6 levels (proteins > chains > id list; pocket > residues > pair);
# PyYAML's own loader, which Snakemake uses, fails with a RecursionError from about 400.
MAX_DEPTH = 32
# Values (scalars and collections) once aliases are expanded: a real config holds hundreds.
MAX_EXPANDED_VALUES = 100_000

# PyYAML's own parser, as Snakemake's loader uses it (libyaml's accepts text PyYAML's does not,
# e.g. a tab after a plain scalar at the start of a line): what the check reads, Snakemake does.
_LOADER = yaml.SafeLoader
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def config_file_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The files Snakemake merges for `--configfile paths...`: the workflow's
    config/config.yaml (when the working directory has one), then `paths` in order."""
    base = [WORKFLOW_CONFIG] if WORKFLOW_CONFIG.is_file() else []
    return [*base, *map(Path, paths)]


def merged_config_files(paths: list[str | Path]) -> dict:
    """The config mapping Snakemake builds for `--configfile paths...` (config_file_paths),
    each file checked (read_config_file) and merged over the ones before it with Snakemake's
    own rule (snakemake.utils.update_config: mappings merge key by key, anything else is
    replaced)."""
    from snakemake.utils import update_config

    merged: dict = {}
    for path in config_file_paths(paths):
        update_config(merged, read_config_file(path))
    return merged


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Refuse (ConfigError) the first config file among `paths` that read_config_file
    refuses."""
    for path in paths:
        read_config_file(path)


def read_config_file(path: str | Path) -> dict:
    """The mapping a JSON or YAML config file holds (JSON first, as Snakemake reads it); a
    ConfigError naming the file, the line and what to do for a file this module refuses."""
    text = _config_text(Path(path))
    try:
        content = json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError:
        return _mapping(_yaml_content(text, path), path)
    except RecursionError:
        raise _refused(path, None, _too_deep()) from None
    _check_json_value(content, path)
    return _mapping(content, path)


def _mapping(content: object, path: str | Path) -> dict:
    # Snakemake refuses the same ("Config file must be given as JSON or YAML with keys at top
    # level"): an empty file too.
    if not isinstance(content, dict):
        raise _refused(
            path,
            None,
            "holds no mapping of keys at the top level (`screen:`, `proteins:`, ...)"
            + (": it is empty" if content is None else ""),
        )
    return content


def _config_text(path: Path) -> str:
    # Told by `stat` (paths.file_problem), never opened: a FIFO would block its reader.
    if problem := file_problem(str(path)):
        raise _refused(path, None, f"{problem}: give the path of a YAML or JSON file")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise _refused(
                path,
                None,
                f"is {size:,} bytes, more than a screen config may be ({MAX_CONFIG_BYTES:,}): "
                "a config names its sheet and files, it does not hold them",
            )
        data = path.read_bytes()
    except OSError as error:
        raise _refused(path, None, f"cannot be read: {error.strerror}") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _refused(path, None, "is UTF-16 text: save the config as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _refused(
            path,
            line,
            f"byte {error.start + 1} of the file (0x{data[error.start]:02X}) is not UTF-8: "
            "save the config as UTF-8",
        ) from None


@dataclass
class _Collection:
    """A mapping or sequence being read: its anchor, the values it holds so far (aliases
    expanded), and for a mapping the keys seen (with their lines) and whether the next
    value is a key."""

    anchor: str | None
    is_mapping: bool
    values: int = 1
    keys: dict = field(default_factory=dict)
    expects_key: bool = True


def _yaml_content(text: str, path: str | Path) -> object:
    """What a YAML config holds, once its events passed the checks."""
    try:
        _check_yaml_events(text, path)
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - the safe loader
    except ConfigError:
        raise
    except yaml.reader.ReaderError as error:
        character = error.character
        code = character if isinstance(character, int) else ord(character)
        raise _refused(
            path,
            text[: error.position].count("\n") + 1,
            f"holds the character U+{code:04X}, which YAML does not allow in a file (a "
            "control character): remove it",
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        what = " ".join(
            filter(None, [getattr(error, "context", None), getattr(error, "problem", None)])
        )
        raise _refused(
            path, mark.line + 1 if mark else None, f"is not valid YAML: {what}"
        ) from None
    except ValueError as error:  # a value of an implicit type out of its range: 2001-13-01
        raise _refused(path, None, f"holds a value YAML cannot read: {error}") from None


def _check_yaml_events(text: str, path: str | Path) -> None:
    """Refuse a second document, a tag, nesting deeper than MAX_DEPTH, an alias of no anchor,
    more than MAX_EXPANDED_VALUES values with aliases expanded, a key given twice: one pass
    over the events, linear in the text."""
    anchored: dict[str, int] = {}  # anchor -> values it stands for
    open_collections: list[_Collection] = []
    documents = 0
    for event in yaml.parse(text, Loader=_LOADER):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _refused(
                    path,
                    line,
                    "a second YAML document ('---') starts here; a screen config is one "
                    "document: remove the '---' line or split the file",
                )
        tag = getattr(event, "tag", None)
        if tag is not None:
            written = tag.replace(_STANDARD_TAG, "!!")
            raise _refused(
                path,
                line,
                f"the tag '{written}': tags are not allowed in a screen config (they make "
                "YAML build objects of its own choosing); write the value plainly, in "
                "quotes if it is text",
            )
        if isinstance(event, _COLLECTION_START):
            if len(open_collections) >= MAX_DEPTH:
                raise _refused(path, line, _too_deep())
            is_mapping = isinstance(event, yaml.MappingStartEvent)
            open_collections.append(_Collection(event.anchor, is_mapping))
            continue
        if isinstance(event, _COLLECTION_END):
            done = open_collections.pop()
            values, anchor, key = done.values, done.anchor, None
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchored:
                raise _refused(
                    path,
                    line,
                    f"the alias '*{event.anchor}' names no anchor ('&{event.anchor}') "
                    "defined before it",
                )
            values, anchor, key = anchored[event.anchor], None, None
        elif isinstance(event, yaml.ScalarEvent):
            values, anchor = 1, event.anchor
            key = (_key_meaning(event), event.value)
        else:
            continue
        if anchor is not None:
            anchored[anchor] = values
        if open_collections:
            _add_to(open_collections[-1], values, key, line, path)


def _add_to(
    parent: _Collection, values: int, key: tuple | None, line: int, path: str | Path
) -> None:
    """Count a finished value into the collection that holds it; a scalar's `key` (its
    meaning and text) is checked when it is a mapping's key."""
    parent.values += values
    if parent.values > MAX_EXPANDED_VALUES:
        raise _refused(
            path,
            line,
            f"with its aliases ('*name') expanded, the config holds more than "
            f"{MAX_EXPANDED_VALUES:,} values (a screen config holds hundreds): write the "
            "values out, or use fewer aliases",
        )
    if not parent.is_mapping:
        return
    if parent.expects_key and key is not None:
        meaning, text = key
        if meaning in parent.keys:
            raise _refused(
                path,
                line,
                f"the key '{text}' is given twice in this mapping (first on line "
                f"{parent.keys[meaning]}); YAML would keep only the last, silently: remove one",
            )
        parent.keys[meaning] = line
    parent.expects_key = not parent.expects_key


_RESOLVER = yaml.resolver.Resolver()
_STANDARD_TAG = "tag:yaml.org,2002:"


def _key_meaning(event: yaml.ScalarEvent) -> tuple[str, object]:
    """What a scalar means as a mapping key, as the loader resolves it (`yes` and `true` are
    the same boolean key, `~` and `null` the same null; `1` and `'1'` differ): (its type,
    its text or value)."""
    resolved = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
    if resolved == _STANDARD_TAG + "bool":
        return (resolved, yaml.constructor.SafeConstructor.bool_values[event.value.lower()])
    return (resolved, None if resolved == _STANDARD_TAG + "null" else event.value)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object, unless it gives a key twice: then the file is read as YAML (which JSON
    is), whose check names the key and its lines."""
    mapping = dict(pairs)
    if len(mapping) < len(pairs):
        raise ValueError("a key given twice")
    return mapping


def _check_json_value(content: object, path: str | Path) -> None:
    """JSON holds no alias: its size is bounded by the file's; its depth is checked here,
    without recursion."""
    pending = [(content, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            raise _refused(path, None, _too_deep())
        if isinstance(value, dict):
            pending += [(child, depth + 1) for child in value.values()]
        elif isinstance(value, list):
            pending += [(child, depth + 1) for child in value]


def _too_deep() -> str:
    return (
        f"nests lists or mappings more than {MAX_DEPTH} levels deep (a screen config needs "
        "6): check its brackets and indentation"
    )


def _refused(path: str | Path, line: int | None, problem: str) -> ConfigError:
    where = f"config file '{os.fspath(path)}'" + (f", line {line}" if line else "")
    return invalid_config([f"{where}: {problem}"])
