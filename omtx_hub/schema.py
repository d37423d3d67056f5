"""The JSON Schemas of the screen config and of summary.json, and the key tables of
config/README.md, generated from the pydantic models (`omtx_hub.config.ScreenConfig`,
`omtx_hub.summary.ScreenSummary`), the one place their keys are declared.

    python -m omtx_hub.schema          # rewrite all three (make schema)
    python -m omtx_hub.schema --check  # exit 1 if any is stale

The config schema serves editors (see config/README.md) and other tools that read JSON Schema;
the pydantic model alone validates a config. The README's tables sit between generated-section
markers. The summary schema documents summary.json for the programs that read it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from pydantic import BaseModel

from omtx_hub.config import ScreenConfig, Selectivity, Triage
from omtx_hub.receptor import Cofactor, Contact, Pocket, ProteinChain, Template
from omtx_hub.summary import ScreenSummary

REPOSITORY = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPOSITORY / "workflow" / "schemas" / "config.schema.json"
SUMMARY_SCHEMA_PATH = REPOSITORY / "workflow" / "schemas" / "summary.schema.json"
README_PATH = REPOSITORY / "config" / "README.md"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# <!-- generated: model (python -m omtx_hub.schema) --> ... <!-- end generated -->
SECTION = re.compile(
    r"(<!-- generated: (?P<name>\w+) \(python -m omtx_hub\.schema\) -->\n)"
    r".*?"
    r"(<!-- end generated -->)",
    re.DOTALL,
)


def json_schema(model: type[BaseModel]) -> dict:
    """The JSON Schema (2020-12) of a model's documents."""
    return {"$schema": JSON_SCHEMA_DIALECT, **model.model_json_schema()}


def schema_text(model: type[BaseModel]) -> str:
    return json.dumps(json_schema(model), indent=2, ensure_ascii=False) + "\n"


# Each generated schema file and the model it is generated from.
SCHEMAS = {SCHEMA_PATH: ScreenConfig, SUMMARY_SCHEMA_PATH: ScreenSummary}


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"{value:g}" if isinstance(value, float) else str(value)


def value_range(field) -> str:
    """The range of a number key, from its bounds (`1 ≤ x ≤ 16`, `0 < x ≤ 10`); "" for a
    key that is not a number."""
    bounds = {type(item).__name__: item for item in field.metadata}
    if not bounds.keys() & {"Ge", "Gt", "Le", "Lt"}:
        return ""
    low = f"{bounds['Ge'].ge:,} ≤ " if "Ge" in bounds else f"{bounds['Gt'].gt:,} < "
    high = f" ≤ {bounds['Le'].le:,}" if "Le" in bounds else f" < {bounds['Lt'].lt:,}"
    return f"{low}x{high}"


def key_table(model: type[BaseModel]) -> str:
    """A markdown table of a config section: key, default, meaning (the description), and
    the range of a number."""
    lines = ["| key | default | meaning | range |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        lines.append(
            f"| `{name}` | {_default(field)} | {field.description} | {value_range(field)} |"
        )
    return "\n".join(lines) + "\n"


def section_models() -> dict[str, type[BaseModel]]:
    """The config sections that are tables of keys, by name."""
    fields = ScreenConfig.model_fields
    sections = {"proteins": fields["proteins"].annotation.__args__[0]}
    # The parts of a receptor (a `proteins` entry), each a table of its own.
    sections |= {
        "chains": ProteinChain,
        "cofactors": Cofactor,
        "pocket": Pocket,
        "contacts": Contact,
        "templates": Template,
    }
    for name in ("screen", "ligands", "model", "runtime", "sharding", "report", "cost", "limits"):
        sections[name] = fields[name].annotation
    sections["selectivity"] = Selectivity  # optional: its annotation is `Selectivity | None`
    sections["triage"] = Triage  # optional, as `selectivity`
    sections["consensus"] = fields["consensus"].annotation.__args__[0]  # each pair
    return sections


def readme_text(readme: str) -> str:
    """The README with every generated section rewritten from the model."""
    tables = {name: key_table(model) for name, model in section_models().items()}

    def fill(match: re.Match) -> str:
        name = match["name"]
        if name not in tables:
            raise KeyError(f"config/README.md: no config section '{name}' to generate")
        return match.group(1) + tables[name] + match.group(3)

    return SECTION.sub(fill, readme)


def stale_files() -> list[Path]:
    """The generated files that differ from what the model generates now."""
    stale = [
        path
        for path, model in SCHEMAS.items()
        if not path.is_file() or path.read_text() != schema_text(model)
    ]
    readme = README_PATH.read_text()
    if readme_text(readme) != readme:
        stale.append(README_PATH)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m omtx_hub.schema", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    arguments = parser.parse_args(argv)
    if arguments.check:
        stale = stale_files()
        for path in stale:
            print(f"{path} is stale: run `python -m omtx_hub.schema`", file=sys.stderr)
        return 1 if stale else 0
    for path, model in SCHEMAS.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(schema_text(model))
    README_PATH.write_text(readme_text(README_PATH.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
