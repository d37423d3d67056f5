"""The molecule Boltz models: salts stripped, Boltz's own standardisation, Boltz's failure
conditions refused before any GPU time, out-of-domain flags. Real molecules throughout; the
verdicts are checked against the installed Boltz's own parser."""

from __future__ import annotations

import importlib
import os
import re
from concurrent.futures import ProcessPoolExecutor

import pytest

import omtx_hub.chemistry as chemistry
from omtx_hub.chemistry import (
    FLAG_ENHANCED_STEREO,
    FLAG_LARGE,
    FLAG_MIXTURE,
    FLAG_UNDEFINED_STEREO,
    LigandProblem,
    prepare_ligand,
    prepare_ligands,
)
from omtx_hub.result_tables import FLAG_BINDER_NO_MSA, LIGAND_FLAGS


@pytest.fixture(scope="module", autouse=True)
def _boltz_parser_imported():
    """Boltz's parser module, imported once for the tests that compare with it (the
    validator itself never imports it). Importing it imports scikit-learn, which sets OpenMP
    variables (KMP_*) in os.environ; they are put back as they were."""
    environment = dict(os.environ)
    importlib.import_module("boltz.data.parse.schema")
    for name in set(os.environ) - set(environment):
        del os.environ[name]
    os.environ.update(environment)


IMATINIB = "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1"
DIPHENHYDRAMINE = "CN(C)CCOC(c1ccccc1)c1ccccc1"
DICLOFENAC = "O=C(O)Cc1ccccc1Nc1c(Cl)cccc1Cl"
CETIRIZINE = "O=C(O)COCCN1CCN(C(c2ccccc2)c2ccc(Cl)cc2)CC1"

# (input, modelled SMILES with affinity, what changed)
STANDARDISED = [
    ("CC(=O)[O-]", "CC(=O)O", ("neutralised",)),
    ("C[NH+](C)C", "CN(C)C", ("neutralised",)),
    ("[NH3+]CC(=O)[O-]", "NCC(=O)O", ("neutralised",)),  # glycine zwitterion
    (f"{IMATINIB}.CS(=O)(=O)O", IMATINIB, ("counter-ion removed: mesylate",)),
    (f"{DIPHENHYDRAMINE}.Cl", DIPHENHYDRAMINE, ("counter-ion removed: chloride",)),
    (
        "O=C([O-])Cc1ccccc1Nc1c(Cl)cccc1Cl.[Na+]",
        DICLOFENAC,
        ("counter-ion removed: sodium", "neutralised"),
    ),
    (f"Cl.Cl.{CETIRIZINE}", CETIRIZINE, ("counter-ion removed: chloride ×2",)),
    ("CC(=O)Nc1ccc(O)cc1.O", "CC(=O)Nc1ccc(O)cc1", ("solvent removed: water",)),
    # ChEMBL draws sulfoxides charge-separated, and so does Boltz.
    ("CS(C)=O", "C[S+](C)[O-]", ("functional group normalised",)),
    ("CCO", "CCO", ()),
]


@pytest.mark.parametrize(("smiles", "modeled", "changes"), STANDARDISED)
def test_each_input_becomes_the_molecule_boltz_models(smiles, modeled, changes):
    ligand = prepare_ligand(smiles, affinity=True)
    assert ligand.modeled_smiles == modeled
    assert ligand.standardisation == changes


def test_the_input_keeps_its_own_canonical_smiles():
    ligand = prepare_ligand("[Na+].[O-]C(=O)C", affinity=True)
    assert ligand.canonical_smiles == "CC(=O)[O-].[Na+]"
    assert (ligand.modeled_smiles, ligand.heavy_atoms) == ("CC(=O)O", 4)


def test_without_affinity_boltz_models_the_charges_as_given_and_salts_are_still_stripped():
    # Boltz standardises only the affinity ligand (schema.py: `if affinity: seq = standardize`).
    assert prepare_ligand("CC(=O)[O-]", affinity=False).modeled_smiles == "CC(=O)[O-]"
    salt = prepare_ligand("O=C([O-])Cc1ccccc1Nc1c(Cl)cccc1Cl.[Na+]", affinity=False)
    assert salt.modeled_smiles == "O=C([O-])Cc1ccccc1Nc1c(Cl)cccc1Cl"
    assert salt.standardisation == ("counter-ion removed: sodium",)


def test_salts_can_be_refused_instead():
    with pytest.raises(LigandProblem, match="several disconnected fragments.*ligands.salts"):
        prepare_ligand(f"{IMATINIB}.CS(=O)(=O)O", affinity=True, salts="reject")
    assert prepare_ligand("CC(=O)[O-]", affinity=True, salts="reject").modeled_smiles == "CC(=O)O"


def test_an_unknown_second_component_is_removed_and_flagged():
    ligand = prepare_ligand("c1ccccc1.CC(=O)Nc1ccc(O)cc1", affinity=True)
    assert ligand.modeled_smiles == "CC(=O)Nc1ccc(O)cc1"
    assert ligand.standardisation == ("fragment removed: C6H6 (c1ccccc1)",)
    assert ligand.flags == (FLAG_MIXTURE,)


# Several fragments, none with a carbon atom: no fragment is the compound.
ONLY_INORGANIC = ["[Na+].[Cl-]", "O.[Na+].[Cl-]", "[NH4+].[Cl-]", "[Na+].[Na+].[O-]S([O-])(=O)=O"]


@pytest.mark.parametrize("smiles", ONLY_INORGANIC)
@pytest.mark.parametrize("affinity", [True, False])
def test_a_salt_of_only_inorganic_ions_is_refused_not_modelled_as_one_of_them(smiles, affinity):
    with pytest.raises(LigandProblem, match="is only inorganic ions or molecules") as problem:
        prepare_ligand(smiles, affinity=affinity)
    assert "no fragment has a carbon atom" in str(problem.value)
    assert "Write the ion or molecule you mean to screen alone" in str(problem.value)


@pytest.mark.parametrize(
    ("smiles", "modeled"),
    [
        ("NC(CCCNC(=N)N)C(=O)O.Cl", "N=C(N)NCCCC(N)C(=O)O"),  # on ChEMBL's list, yet organic
        ("[Na+].OC(=O)c1ccccc1", "O=C(O)c1ccccc1"),
        ("[Na+].[Na+].[O-]C([O-])=O", "O=C(O)O"),  # carbonate has a carbon: organic here
        ("[Cl-]", "Cl"),  # one ion, written alone: what the row means
    ],
)
def test_salts_with_an_organic_fragment_and_single_ions_are_still_accepted(smiles, modeled):
    assert prepare_ligand(smiles, affinity=True).modeled_smiles == modeled


def test_two_copies_of_the_parent_give_one():
    ligand = prepare_ligand(f"{DIPHENHYDRAMINE}.{DIPHENHYDRAMINE}.OS(=O)(=O)O", affinity=True)
    assert ligand.modeled_smiles == DIPHENHYDRAMINE
    assert ligand.standardisation == (
        "extra copy of the parent removed",
        "counter-ion removed: sulfate",
    )


# Out of Boltz's reach: (input, affinity, the reason's words).
CISPLATIN = "N.N.Cl[Pt]Cl"
FERROCENE = "[cH-]1cccc1.[cH-]1cccc1.[Fe+2]"
CARBORANE = (  # o-carborane, C2B10H12, as a graph of its icosahedron's edges
    "[BH]1234[BH]567[BH]189[BH]21%10[BH]32%11[BH]453[BH]645[BH]786[BH]917[CH]%1021[BH]3%114[CH]6571"
)
OCTABORONIC = "OB(O)c1cc(B(O)O)c(-c2c(B(O)O)cc(B(O)O)c(B(O)O)c2B(O)O)c(B(O)O)c1B(O)O"
# 60 heavy atoms and 122 deuterium atoms: 182 atoms as Boltz counts them.
PERDEUTERATED = "[2H]C([2H])([2H])" + "C([2H])([2H])" * 58 + "C([2H])([2H])[2H]"
# 1-chloropentacontane: 152 atoms with hydrogens; its chlorine is named CL102.
CHLORINATED = "Cl" + "C" * 50
# Hydrogen, the proton, deuterium, the hydride: Boltz would model no atom of them.
NO_HEAVY_ATOM = ["[H][H]", "[H+]", "[2H][2H]", "[H-]"]
HEAVY_WATER = "[2H]O[2H]"
# (input, affinity, the reason's words, how Boltz itself fails on it or None).
EXCLUDED = "Molecule is excluded"
REFUSED = [
    # Boltz without affinity would take a disconnected complex as one multi-fragment ligand;
    # stripping it to one fragment would break it, so it is refused.
    (CISPLATIN, True, "metal complex written as separate fragments (Pt in", EXCLUDED),
    (CISPLATIN, False, "metal complex written as separate fragments (Pt in", None),
    (FERROCENE, True, "metal complex written as separate fragments (Fe in [Fe+2])", EXCLUDED),
    ("N[Pt](N)(Cl)Cl", True, "because it contains Pt (a metal)", EXCLUDED),
    (CARBORANE, True, "because it has 10 boron atoms (more than 7)", EXCLUDED),
    (CARBORANE, False, "RDKit: Explicit valence for atom # 0 B, 6, is greater than", "AddHs"),
    (OCTABORONIC, True, "because it has 8 boron atoms (more than 7)", EXCLUDED),
    (PERDEUTERATED, True, "182 atoms as Boltz counts them, of them 122 isotopic", "too large"),
    (CHLORINATED, True, "'CL102' is longer than 4 characters", "CL102."),
    (CHLORINATED, False, "'CL102' is longer than 4 characters", "CL102."),
    ("C1CC", True, "invalid SMILES 'C1CC' (RDKit cannot parse it)", None),
    # Boltz keeps no hydrogen (parse_ccd_residue): it would write a ligand of no atom and fail.
    *[
        (smiles, affinity, "has no heavy atom", None)
        for smiles in NO_HEAVY_ATOM
        for affinity in (True, False)
    ],
    (HEAVY_WATER, True, "'[2H]O[2H]', has one heavy atom and isotopic hydrogens", None),
    ("[3H]Cl", False, "'[3H]Cl', has one heavy atom and isotopic hydrogens", None),
    ("", True, "the smiles cell is empty", None),
]


@pytest.mark.parametrize(("smiles", "affinity", "reason", "boltz_fails"), REFUSED)
def test_what_boltz_would_refuse_is_refused_with_the_reason(smiles, affinity, reason, boltz_fails):
    with pytest.raises(LigandProblem, match=re.escape(reason)):
        prepare_ligand(smiles, affinity=affinity)


def test_limits_that_apply_only_with_affinity_do_not_apply_without():
    assert prepare_ligand(PERDEUTERATED, affinity=False).heavy_atoms == 60
    assert prepare_ligand(OCTABORONIC, affinity=False).modeled_smiles
    assert prepare_ligand("N[Pt](N)(Cl)Cl", affinity=False).modeled_smiles


@pytest.mark.parametrize(
    ("smiles", "affinity", "flags"),
    [
        ("C" * 57, True, (FLAG_LARGE,)),
        ("C" * 56, True, ()),
        ("C" * 57, False, ()),  # Boltz warns about the affinity training range only
        ("CC(F)Cl", True, (FLAG_UNDEFINED_STEREO,)),
        ("CC=CC", True, (FLAG_UNDEFINED_STEREO,)),
        ("C[C@H](F)Cl", True, ()),
        ("C/C=C/C", True, ()),
        ("C[C@H](F)Cl |&1:1|", True, (FLAG_ENHANCED_STEREO,)),
        ("C[C@H](O)[C@@H](C)F |o1:1,3|", False, (FLAG_ENHANCED_STEREO,)),
        ("C[C@H](F)Cl |a:1|", True, ()),  # absolute: SMILES says it all
        ("CC(F)c1ccccc1.CC", True, (FLAG_MIXTURE, FLAG_UNDEFINED_STEREO)),
    ],
)
def test_flags(smiles, affinity, flags):
    assert prepare_ligand(smiles, affinity=affinity).flags == flags


def test_every_flag_is_documented():
    codes = {
        FLAG_LARGE,
        FLAG_UNDEFINED_STEREO,
        FLAG_ENHANCED_STEREO,
        FLAG_MIXTURE,
        FLAG_BINDER_NO_MSA,
    }
    assert set(LIGAND_FLAGS) == codes
    assert all(LIGAND_FLAGS.values())


def test_a_standardisation_that_removes_stereo_says_so_and_flags_it():
    # ChEMBL flattens free tartaric acid's stereocentres (flatten_tartrate_mol).
    ligand = prepare_ligand("OC(=O)[C@H](O)[C@@H](O)C(=O)O", affinity=True)
    assert ligand.standardisation == ("stereo changed",)
    assert ligand.flags == (FLAG_UNDEFINED_STEREO,)


def test_enhanced_stereo_is_dropped_from_what_boltz_models():
    ligand = prepare_ligand("C[C@H](F)Cl |&1:1|", affinity=True)
    assert ligand.modeled_smiles == "C[C@H](F)Cl"


def cores(monkeypatch, count: int) -> None:
    """This process may run on `count` cores (its CPU affinity)."""
    monkeypatch.delattr(chemistry.os, "process_cpu_count", raising=False)
    monkeypatch.setattr(chemistry.os, "sched_getaffinity", lambda pid: set(range(count)))


def test_validation_uses_every_available_core(monkeypatch):
    for count in (1, 2, 3, 64):
        cores(monkeypatch, count)
        assert chemistry.available_cores() == count
        assert chemistry.validation_workers(10**6) == count
    # Each worker gets at least SMILES_PER_WORKER SMILES; fewer are validated in this process.
    assert chemistry.validation_workers(3 * chemistry.SMILES_PER_WORKER - 1) == 2
    assert chemistry.validation_workers(chemistry.SMILES_PER_WORKER - 1) == 0


def test_worker_processes_give_what_one_process_gives_in_order(monkeypatch):
    smiles = [case[0] for case in STANDARDISED] + [CISPLATIN, CHLORINATED, "C1CC", "CCO"]
    alone = prepare_ligands(smiles, affinity=True, salts="strip", workers=1)
    # Two cores: two workers, tasks of 4 SMILES, fresh workers after each task.
    cores(monkeypatch, 2)
    monkeypatch.setattr(chemistry, "SMILES_PER_WORKER", 2)
    monkeypatch.setattr(chemistry, "SMILES_PER_TASK", 4)
    monkeypatch.setattr(chemistry, "TASKS_PER_WORKER", 1)
    pools = []

    class RecordedPool(ProcessPoolExecutor):
        def __init__(self, workers, **options):
            pools.append(workers)
            super().__init__(workers, **options)

    monkeypatch.setattr(chemistry, "ProcessPoolExecutor", RecordedPool)
    spread = prepare_ligands(smiles, affinity=True, salts="strip")
    # 13 distinct SMILES: four tasks, two rounds of two workers.
    assert pools == [2, 2]
    assert [str(r) if isinstance(r, LigandProblem) else r for r in spread] == [
        str(r) if isinstance(r, LigandProblem) else r for r in alone
    ]
    # "C1CC" is refused; "CCO" again gets its first row's result.
    assert isinstance(spread[-2], LigandProblem) and spread[-1] == spread[len(STANDARDISED) - 1]


class TestAgainstTheInstalledBoltz:
    """Boltz's own parser (boltz.data.parse.schema.parse_boltz_schema, Boltz 2.2.1) on the
    input YAML's ligand: it accepts what is accepted, models it unchanged, and fails on what
    is refused."""

    @pytest.fixture(autouse=True)
    def _descriptors(self, monkeypatch):
        # Boltz reaches MolWt as AllChem.Descriptors, there when rdkit.Chem.Descriptors was
        # imported before AllChem (as in `boltz predict`).
        from rdkit.Chem import AllChem, Descriptors

        monkeypatch.setattr(AllChem, "Descriptors", Descriptors, raising=False)

    @staticmethod
    def parse(smiles: str, *, affinity: bool):
        from boltz.data.parse.schema import parse_boltz_schema

        schema = {"version": 1, "sequences": [{"ligand": {"id": "B", "smiles": smiles}}]}
        if affinity:
            schema["properties"] = [{"affinity": {"binder": "B"}}]
        return parse_boltz_schema("ligand", schema, {}, None, boltz_2=True)

    @pytest.mark.parametrize(("smiles", "modeled", "changes"), STANDARDISED)
    def test_boltz_models_the_modelled_smiles_unchanged(self, smiles, modeled, changes):
        from boltz.data.parse.schema import standardize

        ligand = prepare_ligand(smiles, affinity=True)
        assert standardize(ligand.modeled_smiles) == ligand.modeled_smiles
        assert self.parse(ligand.modeled_smiles, affinity=True).record.affinity is not None

    @pytest.mark.parametrize("smiles", NO_HEAVY_ATOM)
    def test_boltz_models_no_atom_of_a_molecule_without_heavy_atoms(self, smiles):
        assert len(self.parse(smiles, affinity=False).structure.atoms) == 0

    def test_boltz_models_heavy_water_as_one_hydrogen_atom(self):
        # Atoms are named element + canonical rank: H1 is a hydrogen (water's oxygen: O3).
        assert self.parse(HEAVY_WATER, affinity=False).structure.atoms["name"].tolist() == ["H1"]
        assert self.parse("O", affinity=False).structure.atoms["name"].tolist() == ["O3"]

    def test_boltz_itself_fails_on_the_salt_that_is_stripped_here(self):
        with pytest.raises(RuntimeError, match="Pre-condition Violation"):
            self.parse(f"{IMATINIB}.CS(=O)(=O)O", affinity=True)

    @pytest.mark.parametrize(
        ("smiles", "affinity", "boltz_fails"),
        [(smiles, affinity, fails) for smiles, affinity, _, fails in REFUSED if fails],
    )
    def test_boltz_fails_on_what_is_refused(self, smiles, affinity, boltz_fails):
        with pytest.raises((ValueError, TypeError), match=re.escape(boltz_fails)):
            self.parse(smiles, affinity=affinity)


# (SMILES, whether its atoms are counted without AddHs and RemoveHs): molecules of each kind
# the count's shortcut tells apart (`chemistry._only_added_hydrogens_removed`).
ATOM_COUNTS = [
    (IMATINIB, True),
    ("C[C@H](F)Cl", True),  # a tetrahedral centre
    ("C/C=C/C", True),  # a double bond's stereo, defined by heavy atoms
    ("O=C(/C=C/c1ccccc1)N", True),
    ("C" * 33, True),  # 101 atoms with hydrogens: named the long way
    ("[NH4+]", True),
    ("[2H]C([2H])([2H])C(=O)N", False),  # hydrogen atoms of its own: deuterium
    ("[H]/C=C/C", False),  # a hydrogen that defines a double bond's stereo
    ("[Pt@SP1H](Cl)(Cl)N", False),  # RemoveHs keeps a square-planar centre's hydrogen
    ("[Co@TB1H](C)(C)(C)C", False),  # trigonal-bipyramidal
    ("[Fe@OH1H](C)(C)(C)(C)C", False),  # octahedral
    (PERDEUTERATED, False),
]


@pytest.mark.parametrize(("smiles", "shortcut"), ATOM_COUNTS)
def test_boltz_s_atom_count_is_the_same_with_or_without_its_hydrogens_added(smiles, shortcut):
    from rdkit import Chem

    molecule = Chem.MolFromSmiles(smiles)
    with_hydrogens = Chem.AddHs(molecule)
    # Below the naming limit, and every hydrogen added removed again: the molecule's atoms.
    counted = molecule.GetNumAtoms(
        onlyExplicit=False
    ) < chemistry.NAMED_ATOMS_LIMIT and chemistry._only_added_hydrogens_removed(molecule)
    assert counted == (shortcut and with_hydrogens.GetNumAtoms() < chemistry.NAMED_ATOMS_LIMIT)
    boltz_counts = Chem.RemoveHs(with_hydrogens, sanitize=False).GetNumAtoms()
    if chemistry._only_added_hydrogens_removed(molecule):
        assert boltz_counts == molecule.GetNumAtoms()
    assert with_hydrogens.GetNumAtoms() == molecule.GetNumAtoms(onlyExplicit=False)
    assert chemistry.boltz_atom_check(molecule, affinity=False) == boltz_counts


def test_an_unexpected_failure_is_that_row_s_problem_not_the_sheet_s(monkeypatch):
    import omtx_hub.chemistry as chemistry

    checked = chemistry.boltz_atom_check

    def failing_on_propanol(molecule, *, affinity):
        if molecule.GetNumAtoms() == 4:
            raise RuntimeError("Invariant Violation\nmore lines")
        return checked(molecule, affinity=affinity)

    monkeypatch.setattr(chemistry, "boltz_atom_check", failing_on_propanol)
    results = prepare_ligands(["CCO", "CCCO", "CCCCO"], affinity=True, salts="strip", workers=1)
    assert [r.modeled_smiles for r in (results[0], results[2])] == ["CCO", "CCCCO"]
    assert str(results[1]) == "RDKit failed on it (RuntimeError: Invariant Violation)"


def test_a_standardisation_that_does_not_settle_is_refused(monkeypatch):
    import omtx_hub.chemistry as chemistry

    # Stands in for a Boltz whose standardize changed its own output each time.
    monkeypatch.setattr(chemistry, "_boltz_standardize", lambda: lambda smiles: smiles + "C")
    with pytest.raises(LigandProblem, match="does not settle.*CCO -> CCOC -> CCOCC -> CCOCCC"):
        prepare_ligand("CCO", affinity=True)


def test_boltz_s_standardize_is_its_own_function_without_importing_torch():
    """`_boltz_standardize` compiles Boltz's `standardize` from Boltz's source (importing its
    module would import torch): the same code, reading the same objects."""
    import subprocess
    import sys

    import boltz.data.parse.schema as schema

    from omtx_hub.chemistry import BOLTZ_STANDARDIZE
    from omtx_hub.source_functions import own_function

    own = own_function(*BOLTZ_STANDARDIZE)
    assert own is not None and own is not schema.standardize
    assert own.__code__ == schema.standardize.__code__
    assert own.__code__.co_filename == schema.standardize.__code__.co_filename
    assert (own.__qualname__, own.__module__) == ("standardize", "boltz.data.parse.schema")
    assert own.__annotations__ == schema.standardize.__annotations__
    globals_read = [n for n in own.__globals__ if not n.startswith("__") and n != "standardize"]
    assert "standardize_mol" in globals_read and "exclude_flag" in globals_read
    for name in globals_read:
        assert own.__globals__[name] is vars(schema)[name], name
    for smiles in ("CC(=O)[O-]", "CS(C)=O", "c1ccccc1C(=O)N", "OC(=O)[C@H](O)[C@@H](O)C(=O)O"):
        assert own(smiles) == schema.standardize(smiles)
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from omtx_hub import chemistry; "
            "print(chemistry.prepare_ligand('CC(=O)[O-]', affinity=True).modeled_smiles, "
            "'torch' in sys.modules, 'sklearn' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.split() == ["CC(=O)O", "False", "False"]


MODULES = {
    # a helper of the module's own: not an import
    "helper": "import os\n\ndef _helper():\n    return 1\n\ndef f():\n    return _helper()\n",
    # a name bound twice (a conditional import)
    "twice": "import json\ntry:\n    import json\nexcept ImportError:\n    json = None\n\n"
    "def f():\n    return json\n",
    "decorated": "import functools\n\n@functools.cache\ndef f():\n    return functools\n",
    "rebound": "import json\n\ndef f():\n    return json\n\nf = None\n",
    "star": "from os.path import *\n\ndef f():\n    return join\n",
    "global": "import json\n\ndef f():\n    return json\n\ndef g():\n    global json\n",
    "plain": "from os.path import join as joined\nimport json\nfrom typing import Optional\n\n"
    "def f(a: str) -> Optional[str]:\n    return joined(a, json.dumps(a))\n",
    # annotations left unevaluated, as in the module (Undefined is nowhere)
    "future": "from __future__ import annotations\nimport json\nfrom os.path import join as "
    "joined\n\ndef f(a: Undefined) -> str:\n    return joined(a, json.dumps(a))\n",
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_function_is_compiled_alone_only_where_it_reads_nothing_but_imports(
    tmp_path, monkeypatch, module
):
    from omtx_hub.source_functions import own_function

    (tmp_path / f"own_{module}.py").write_text(MODULES[module])
    monkeypatch.syspath_prepend(str(tmp_path))
    own = own_function(f"own_{module}", "f")
    if module not in ("plain", "future"):
        assert own is None
        return
    import json

    real = importlib.import_module(f"own_{module}").f
    assert own is not real and own.__code__ == real.__code__
    assert own.__globals__["joined"] is os.path.join and own.__globals__["json"] is json
    assert own.__annotations__ == real.__annotations__  # evaluated, as in the module
    assert own("a") == real("a")


def test_without_boltz_s_function_alone_its_module_is_imported(monkeypatch):
    import omtx_hub.chemistry as chemistry

    monkeypatch.setattr(chemistry, "own_function", lambda module, name: None)
    chemistry._boltz_standardize.cache_clear()
    try:
        from boltz.data.parse.schema import standardize

        assert chemistry._boltz_standardize() is standardize
    finally:
        chemistry._boltz_standardize.cache_clear()


def test_each_distinct_smiles_is_prepared_once_and_every_row_gets_its_result(monkeypatch):
    import omtx_hub.chemistry as chemistry

    sheet = ["CCO", "CC(=O)[O-]", "C1CC", "CCO", "", "CC(=O)[O-]", "C1CC", "", "CCO"]
    alone = [prepare_ligands([smiles], affinity=True, salts="strip") for smiles in sheet]
    prepared: list[str] = []
    real = chemistry.prepare_ligand

    def counted(smiles, **settings):
        prepared.append(smiles)
        return real(smiles, **settings)

    monkeypatch.setattr(chemistry, "prepare_ligand", counted)
    together = prepare_ligands(sheet, affinity=True, salts="strip", workers=1)
    assert prepared == ["CCO", "CC(=O)[O-]", "C1CC", ""]
    assert [str(r) if isinstance(r, LigandProblem) else r for r in together] == [
        str(r) if isinstance(r, LigandProblem) else r for [r] in alone
    ]
    assert str(together[2]) == "invalid SMILES 'C1CC' (RDKit cannot parse it)"
    assert str(together[4]) == str(together[7]) == "the smiles cell is empty"


def test_dummy_atoms_are_found_however_written():
    for smiles in ("*C", "[*]C", "[1*]C", "[*:1]C", "[#0]C", "C[*-]", "CC* |$;;_R1$|"):
        with pytest.raises(LigandProblem, match="has a dummy atom"):
            prepare_ligand(smiles, affinity=False)
    # An isotope is no dummy atom (deuterated methane, one heavy atom, is refused: REFUSED).
    assert prepare_ligand("[2H]CC", affinity=False).modeled_smiles == "[2H]CC"
