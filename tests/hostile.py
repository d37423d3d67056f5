"""Planning hostile input as the workflow does it, and the checks every plan must pass: the
shared part of tests/unit/test_hostile_input.py and test_hostile_properties.py."""

from __future__ import annotations

import re
from pathlib import Path

from omtx_hub import layout
from omtx_hub.config import load_config
from omtx_hub.plan import Plan, build_plan
from omtx_hub.store import LocalStore

PROTEIN = "MKTAYIAKQRQISFVKSHFS"
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# A path component the plan may produce: no separator, NUL or line break, not '.' or '..'.
SAFE_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# Ligand names that planning accepts and must keep as data: path traversal, shell syntax,
# markup, bidirectional-text tricks, non-ASCII, a 300-character name.
HOSTILE_NAMES = [
    "../../etc/passwd",
    "a;rm -rf ~",
    "$(touch pwned)",
    "`touch pwned`",
    "x" * 300,
    "\u202egpj.exe",  # right-to-left override: shows as 'exe.jpg'
    "\u200fRLM-mark",  # right-to-left mark
    "名前-カフェイン",
    "Ĉafé ñ",
    "<script>alert(1)</script>",
    "-rf",
    "..",
    ".hidden",
    "a/b\\c",
    "' OR 1=1 --",
    "%s%n{0}",
]


def hostile_sheet(smiles: list[str]) -> bytes:
    """A sheet of HOSTILE_NAMES, quoted, with the SMILES of `smiles` in turn."""
    cells = [name.replace('"', '""') for name in HOSTILE_NAMES]
    rows = [f'"{cell}",{smiles[i % len(smiles)]}' for i, cell in enumerate(cells)]
    return ("name,smiles\n" + "\n".join(rows) + "\n").encode()


def screen_config(directory: Path, sheet: bytes, name: str = "ligands.csv", **overrides) -> dict:
    """A one-protein screen of `sheet` (written as `name` in `directory`), with `overrides`
    replacing whole top-level keys."""
    path = directory / name
    path.write_bytes(sheet)
    return {
        "screen": {"name": "s1"},
        "proteins": [{"name": "P1", "sequence": PROTEIN}],
        "ligands": str(path),
        "store": str(directory / "store"),
    } | overrides


def plan(raw: dict) -> Plan:
    """Planning as common.smk does it: the config, then the plan with the result store."""
    config = load_config(raw)
    return build_plan(config, LocalStore(config.store))


def planned_paths(plan: Plan) -> list[Path]:
    """Every file and directory of the screen's results whose name the plan decides: each
    shard's manifest and structures directory, and each sheet row's structure file."""
    screen = plan.screen
    paths = []
    for (protein, shard), planned in plan.shards.items():
        parts = {"screen": screen, "protein": protein, "shard": shard}
        structures = Path(layout.SHARD_STRUCTURES.format(**parts))
        paths += [Path(layout.MANIFEST.format(**parts)), structures]
        paths += [
            structures / layout.structure_file_name(screen, protein, ligand.index, ligand.ligand_id)
            for target in planned.targets
            for ligand in target.ligands
        ]
    return paths


def inside_the_screens_results(path: Path, screen: str) -> bool:
    """`path` (relative to the working directory) names a file under results/<screen>/."""
    return (
        not path.is_absolute()
        and path.parts[:2] == (layout.RESULTS, screen)
        and ".." not in path.parts
        and all(SAFE_PART.fullmatch(part) for part in path.parts)
    )
