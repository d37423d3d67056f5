"""Where ligand validation spends its time: each step of `prepare_ligand`, the worker pool's
start, and `validate_sheet`'s own work around them.

Validates the first `--ligands` compounds of the scale benchmark's sheet (or of its salts and
hydrates: `--sheet salts`) in this process, with affinity, timing each step of
`omtx_hub.chemistry.prepare_ligand` exclusively (a step's time excludes the timed steps it
calls), Boltz's `standardize` broken down into its own steps (ChEMBL's exclude_flag and
standardize_mol, RDKit's parsing, LargestFragmentChooser and SMILES writing). Prints each
step's seconds, microseconds per molecule and share; then what a pool of worker processes
costs to start, and `validate_sheet`'s reading, name checks and table building.

    python benchmarks/validation_profile.py [--ligands 20000] [--sheet plain|salts]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from common import ENV, ligand_sheet
from validation_scale import salt_sheet

from omtx_hub import chemistry, sheet

EXCLUSIVE: dict[str, float] = defaultdict(float)
_STACK: list[float] = []  # time spent in timed calls nested in each running timed call


def timed(label, function):
    """`function`, its time (less that of the timed calls it makes) added to EXCLUSIVE[label];
    `label` may be a function of the call's arguments."""

    def call(*arguments, **keywords):
        started = time.perf_counter()
        _STACK.append(0.0)
        try:
            return function(*arguments, **keywords)
        finally:
            elapsed = time.perf_counter() - started
            nested = _STACK.pop()
            name = label(*arguments, **keywords) if callable(label) else label
            EXCLUSIVE[name] += elapsed - nested
            if _STACK:
                _STACK[-1] += elapsed

    return call


class Timing:
    """Stands in for a module (or object): the functions named in `labels` timed, those in
    `replaced` replaced, every other attribute passed through."""

    def __init__(self, module, labels: dict, replaced: dict | None = None):
        self._module, self._labels, self._replaced = module, labels, replaced or {}

    def __getattr__(self, name):
        if name in self._replaced:
            return self._replaced[name]
        attribute = getattr(self._module, name)
        return timed(self._labels[name], attribute) if name in self._labels else attribute


def boltz_parse_label(smiles, sanitize=True, **_):
    return "Boltz: parse (RDKit, unsanitized)" if not sanitize else "Boltz: re-parse check"


def instrument() -> None:
    """Time the steps of prepare_ligand and of Boltz's standardize (this process only)."""
    from rdkit import Chem
    from rdkit.Chem.MolStandardize import rdMolStandardize

    standardize = chemistry._boltz_standardize()
    namespace = standardize.__globals__
    if namespace.get("__name__") == "boltz.data.parse.schema" and "torch" in sys.modules:
        print("(Boltz's standardize came from its imported module: timing patches it there)")

    def chooser(*arguments, **keywords):
        made = rdMolStandardize.LargestFragmentChooser(*arguments, **keywords)
        return Timing(made, {"choose": "Boltz: LargestFragmentChooser"})

    namespace["Chem"] = Timing(
        Chem, {"MolFromSmiles": boltz_parse_label, "MolToSmiles": "Boltz: write SMILES"}
    )
    namespace["rdMolStandardize"] = Timing(
        rdMolStandardize,
        {},
        {"LargestFragmentChooser": timed("Boltz: LargestFragmentChooser", chooser)},
    )
    for name, label in (
        ("standardize_mol", "ChEMBL standardize_mol (in Boltz's standardize)"),
        ("exclude_flag", "ChEMBL exclude_flag (in Boltz's standardize)"),
    ):
        namespace[name] = timed(label, namespace[name])
    chemistry._boltz_standardize = lambda: timed("Boltz: standardize, rest", standardize)
    chemistry.Chem = Timing(
        Chem,
        {
            "MolToSmiles": "RDKit SMILES of the input (canonical, fragments)",
            "GetMolFrags": "fragments counted",
        },
    )
    for name, label in (
        ("_parsed", "input parsed (RDKit, sanitized) and checked"),
        ("boltz_atom_check", "Boltz's atom count and checks"),
        ("_has_undefined_stereo", "undefined stereo (FindPotentialStereo)"),
        ("_has_enhanced_stereo", "enhanced stereo groups"),
        ("_fragments", "salts: fragments named"),
        ("_strip_fragments", "salts: parent chosen"),
        ("_metal_complex_in_pieces", "salts: metal complexes"),
        ("describe_changes", "what changed, in words"),
    ):
        setattr(chemistry, name, timed(label, getattr(chemistry, name)))
    chemistry.prepare_ligand = timed("prepare_ligand, rest", chemistry.prepare_ligand)


POOL_START = (
    "import resource, time; from omtx_hub.chemistry import prepare_ligands; "
    "started = time.perf_counter(); "
    "prepare_ligands(['CCO', 'CCN'], affinity=True, salts='strip', workers=2); "
    "used = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(time.perf_counter() - started, used.ru_utime + used.ru_stime, used.ru_maxrss)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ligands", type=int, default=20_000)
    parser.add_argument("--sheet", choices=["plain", "salts"], default="plain")
    arguments = parser.parse_args()
    source = ligand_sheet(100_000) if arguments.sheet == "plain" else salt_sheet(100_000)
    lines = source.read_text().splitlines()[: arguments.ligands + 1]
    folder = tempfile.TemporaryDirectory(prefix="omtx-profile-")
    path = Path(folder.name) / "ligands.csv"
    path.write_text("\n".join(lines) + "\n")
    smiles = [line.split(",")[1] for line in lines[1:]]

    started = time.process_time()
    chemistry._boltz_standardize()
    chemistry._known_fragments()
    setup = time.process_time() - started
    print(f"Boltz's standardize and ChEMBL's salt lists loaded: {setup:.2f} CPU s")

    instrument()
    started = time.perf_counter()
    chemistry.prepare_ligands(smiles, affinity=True, salts="strip", workers=1)
    total = time.perf_counter() - started
    EXCLUSIVE["loop over the SMILES, rest"] = total - sum(EXCLUSIVE.values())
    count = len(smiles)
    print(f"\n{count} SMILES ({arguments.sheet}), one process: {total:.2f} s")
    print(f"{'step':<52} {'s':>7} {'us/mol':>7} {'share':>6}")
    boltz = 0.0
    for label, seconds in sorted(EXCLUSIVE.items(), key=lambda item: -item[1]):
        if label.startswith(("Boltz:", "ChEMBL")):
            boltz += seconds
        share = 100 * seconds / total
        print(f"{label:<52} {seconds:>7.2f} {seconds / count * 1e6:>7.0f} {share:>5.1f}%")
    print(
        f"{'Boltz standardize in all':<52} {boltz:>7.2f} {boltz / count * 1e6:>7.0f} "
        f"{100 * boltz / total:>5.1f}%"
    )

    # Not run in the checkout: `python -c` would import its omtx_hub ahead of PYTHONPATH's.
    pool = subprocess.run(
        [sys.executable, "-c", POOL_START],
        env=ENV,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu, peak = (float(field) for field in pool.stdout.split())
    print(
        f"\npool of 2 worker processes started and used: {wall:.2f} s, {cpu:.2f} CPU s, "
        f"{peak / 1024:.0f} MiB peak per worker"
    )

    phases: dict[str, float] = defaultdict(float)
    for name in ("read_sheet", "_prepare_rows"):
        function = getattr(sheet, name)

        def phase(*arguments, _function=function, _name=name, **keywords):
            begun = time.perf_counter()
            try:
                return _function(*arguments, **keywords)
            finally:
                phases[_name] += time.perf_counter() - begun

        setattr(sheet, name, phase)
    started = time.perf_counter()
    sheet.validate_sheet(path, affinity=True, workers=1)
    whole = time.perf_counter() - started
    rest = whole - sum(phases.values())
    print(
        f"validate_sheet (one process, timed steps): {whole:.2f} s; sheet read "
        f"{phases['read_sheet']:.2f} s, molecules {phases['_prepare_rows']:.2f} s, names, "
        f"IDs and table {rest:.2f} s"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MiB")
    folder.cleanup()


if __name__ == "__main__":
    main()
