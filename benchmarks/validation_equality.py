"""Does this checkout validate ligand sheets exactly as an earlier revision does?

For speed-ups of `omtx_hub.chemistry` / `omtx_hub.sheet` that must not change a single
validated cell (`VALIDATOR_VERSION` unchanged). Runs the validator of this checkout and of
`--against` (a git revision, HEAD by default, exported to a temporary folder), each in a
process of its own, on:
- every string constant of the tests about SMILES and sheets (`TEST_MODULES`, their source
  and their module-level values), each alone (`prepare_ligands`, one process and spread over
  worker processes, with affinity and without, salts stripped and refused), and as sheets of
  20 rows (`validate_sheet`: the table, or the error's message with every problem listed),
  some of them repeated;
- the scale benchmark's sheet (`benchmarks/common.py ligand_sheet`), the same compounds as
  salts and hydrates (as in validation_scale.py), and with their basic amines protonated,
  written as random SMILES; validated with affinity and without.
Compares the results exactly: per SMILES the PreparedLigand fields or the problem's message;
per sheet the validated table as the store caches it (the bytes of its TSV) or the
SheetError's message. Prints each case and exits 1 on any difference.

    python benchmarks/validation_equality.py [--against HEAD] [--ligands 100000]
        [--salts 20000] [--charged 20000]
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib
import os
import pickle
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from common import ENV, REPO, ligand_sheet
from validation_scale import salt_sheet

TEST_MODULES = [
    "tests.unit.test_chemistry",
    "tests.unit.test_sheet",
    "tests.unit.test_sheet_cache",
    "tests.unit.test_sheet_ccd",
    "tests.unit.test_sheet_reading",
    "tests.unit.test_hostile_input",
    "tests.unit.test_hostile_properties",
    "tests.hostile",
]
SHEET_ROWS = 20
SETTINGS = [(True, "strip"), (False, "strip"), (True, "reject"), (False, "reject")]


def _strings(value, found: set[str], depth: int = 0) -> None:
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, list | tuple | set | frozenset) and depth < 4:
        for item in value:
            _strings(item, found, depth + 1)
    elif isinstance(value, dict) and depth < 4:
        for item in (*value.keys(), *value.values()):
            _strings(item, found, depth + 1)


def test_strings() -> list[str]:
    """Every string constant of TEST_MODULES' source and module-level values (f-strings of
    SMILES included), plus each that RDKit reads with a counter-ion, water and a second copy
    of itself; every seventh of them repeated."""
    found: set[str] = set()
    sys.path.insert(0, str(REPO))
    for name in TEST_MODULES:
        module = importlib.import_module(name)
        source = Path(module.__file__).read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
        _strings(vars(module), found)
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    single = sorted(s for s in found if len(s) < 2000)
    readable = [s for s in single if Chem.MolFromSmiles(s) is not None]
    varied = [s + ion for s in readable for ion in (".Cl", ".O", ".[Na+]")]
    varied += [f"{s}.{s}" for s in readable] + [f"[K+].{s}" for s in readable]
    # and every seventh again: a sheet may repeat a SMILES (prepared once, given to each row)
    return single + varied + (single + varied)[::7]


def charged_sheet(count: int, folder: Path) -> Path:
    """The benchmark's first `count` compounds with each basic amine protonated (the
    standardisation neutralises them again), each written as a random SMILES (not RDKit's
    canonical one)."""
    from rdkit import Chem

    basic = Chem.MolFromSmarts("[NX3;!$(N-C=[O,N,S]);!$(N-a);!$(N-S(=O)=O)]")
    lines = ligand_sheet(100_000).read_text().splitlines()[: count + 1]
    path = folder / f"charged-{count}.csv"
    rows = [lines[0]]
    for number, line in enumerate(lines[1:]):
        name, smiles, series = line.split(",")
        molecule = Chem.RWMol(Chem.MolFromSmiles(smiles))
        for (index,) in molecule.GetSubstructMatches(basic):
            atom = molecule.GetAtomWithIdx(index)
            atom.SetFormalCharge(1)
            atom.SetNumExplicitHs(atom.GetTotalNumHs() + 1)
            atom.SetNoImplicit(True)
        Chem.SanitizeMol(molecule)
        written = Chem.MolToRandomSmilesVect(molecule, 1, randomSeed=number)[0]
        rows.append(f"{name},{written},{series}")
    path.write_text("\n".join(rows) + "\n")
    return path


def string_sheets(strings: list[str], folder: Path, label: str) -> list[Path]:
    """`strings` as sheets of SHEET_ROWS rows (so an error lists every problem)."""
    paths = []
    for start in range(0, len(strings), SHEET_ROWS):
        path = folder / f"{label}-{start:05d}.csv"
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "smiles", "note"])
            for number, smiles in enumerate(strings[start : start + SHEET_ROWS]):
                writer.writerow([f"row-{start + number}", smiles, "x"])
        paths.append(path)
    return paths


def run_validator(arguments_file: Path, output: Path) -> None:
    """In the process of one side: every case, results pickled to `output`."""
    from omtx_hub.chemistry import LigandProblem, prepare_ligands
    from omtx_hub.sheet import SheetError, validate_sheet

    def plain(result):
        if isinstance(result, LigandProblem):
            return ("problem", str(result))
        return (
            result.canonical_smiles,
            result.modeled_smiles,
            result.heavy_atoms,
            result.standardisation,
            result.flags,
        )

    cases = pickle.loads(arguments_file.read_bytes())
    results = {}
    for affinity, salts in SETTINGS:
        for workers in (1, 2):
            prepared = prepare_ligands(
                cases["strings"], affinity=affinity, salts=salts, workers=workers
            )
            results[("strings", affinity, salts, workers)] = [plain(r) for r in prepared]
    for path, affinity, salts in cases["sheets"]:
        try:
            table = validate_sheet(path, affinity=affinity, salts=salts)
            text = table.to_csv(sep="\t", index=False, quoting=csv.QUOTE_NONNUMERIC)
            results[("sheet", path, affinity, salts)] = ("table", text, str(table.dtypes))
        except SheetError as error:
            results[("sheet", path, affinity, salts)] = ("error", str(error))
    output.write_bytes(pickle.dumps(results))


def side(package_root: Path, arguments_file: Path, output: Path) -> None:
    environment = {**ENV, "PYTHONPATH": f"{package_root}{os.pathsep}{REPO / 'benchmarks'}"}
    subprocess.run(
        [sys.executable, __file__, "--run", str(arguments_file), str(output)],
        check=True,
        env=environment,
        cwd=package_root,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="HEAD", help="git revision to compare with")
    parser.add_argument("--ligands", type=int, default=100_000, help="0: no benchmark sheet")
    parser.add_argument("--salts", type=int, default=20_000, help="0: no salt sheet")
    parser.add_argument("--charged", type=int, default=20_000, help="0: no charged sheet")
    parser.add_argument("--run", nargs=2, type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.run:
        run_validator(*arguments.run)
        return

    with tempfile.TemporaryDirectory(prefix="omtx-equality-") as folder:
        differences = compare(arguments, Path(folder))
    print("IDENTICAL" if not differences else f"{differences} DIFFERENCES")
    sys.exit(1 if differences else 0)


def compare(arguments: argparse.Namespace, folder: Path) -> int:
    """The number of differences between the two sides (each printed)."""
    strings = test_strings()
    # Sheets of them all (mostly refused: one bad row refuses a sheet), and of those RDKit
    # reads (mostly validated tables).
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    readable = [s for s in strings if "*" not in s and Chem.MolFromSmiles(s) is not None]
    sheets = []
    for label, chosen in (("strings", strings), ("readable", readable)):
        for path in string_sheets(chosen, folder, label):
            sheets += [(str(path), True, "strip"), (str(path), False, "strip")]
            sheets += [(str(path), True, "reject")]
    if arguments.ligands:
        library = ligand_sheet(100_000)
        if arguments.ligands < 100_000:
            lines = library.read_text().splitlines()[: arguments.ligands + 1]
            library = folder / f"ligands-{arguments.ligands}.csv"
            library.write_text("\n".join(lines) + "\n")
        sheets += [(str(library), True, "strip"), (str(library), False, "strip")]
    if arguments.salts:
        sheets += [(str(salt_sheet(arguments.salts)), True, "strip")]
    if arguments.charged:
        charged = str(charged_sheet(arguments.charged, folder))
        sheets += [(charged, True, "strip"), (charged, False, "strip")]
    arguments_file = folder / "cases.pickle"
    arguments_file.write_bytes(pickle.dumps({"strings": strings, "sheets": sheets}))

    old_root = folder / "old"
    old_root.mkdir()
    archive = subprocess.run(
        ["git", "archive", arguments.against, "omtx_hub"], cwd=REPO, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive, check=True)
    print(f"{len(strings)} test strings, {len(sheets)} sheets; against {arguments.against}")
    side(old_root, arguments_file, folder / "old.pickle")
    side(REPO, arguments_file, folder / "new.pickle")
    old = pickle.loads((folder / "old.pickle").read_bytes())
    new = pickle.loads((folder / "new.pickle").read_bytes())

    differences = 0
    groups: dict[str, Counter] = {}
    for case, expected in old.items():
        got = new.get(case)
        if case[0] == "strings":
            bad = [i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b]
            valid = sum(result[0] != "problem" for result in expected)
            print(
                f"prepare_ligands of the test strings, affinity={case[1]} salts={case[2]} "
                f"workers={case[3]}: {len(expected)} SMILES ({valid} valid), {len(bad)} "
                "different"
            )
            for i in bad[:5]:
                print(f"  {strings[i]!r}: {expected[i]} != {got[i]}")
            differences += len(bad)
            continue
        name = Path(case[1]).name
        group = f"{name.split('-')[0] if name.startswith(('strings', 'readable')) else name}"
        group += f" affinity={case[2]} salts={case[3]}"
        counts = groups.setdefault(group, Counter())
        counts[f"{expected[0]}s"] += 1
        if got != expected:
            counts["DIFFERENT"] += 1
            differences += 1
            print(f"  {name}: {str(expected)[:300]} != {str(got)[:300]}")
    for group, counts in groups.items():
        print(f"validate_sheet {group}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return differences


if __name__ == "__main__":
    main()
